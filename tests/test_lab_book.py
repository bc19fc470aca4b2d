"""Your own book (``--book``, ``ramparts export-book``): the schema's refusals, the round trip, the replay.

* every malformed file is refused with the row and the column named, before anything runs;
* a journaled venue exported, loaded and opened in a replay holds the same positions, collateral and entry
  prices, to the base unit (an entry value off the tick grid is rounded against the account and the difference
  deposited: the equity stays exact);
* a replay of a book conserves value, replays identically and states the book's facts, refusals included;
* the command line: ``--book`` beside ``--population``, ``--accounts`` or ``--seed`` is one ``error:`` line naming
  the flags, exit 2, nothing created; the example book runs through Black Thursday end to end.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ramparts.cli import app
from ramparts.engine import events as ev
from ramparts.engine.node import Node, replay
from ramparts.engine.presets import genesis, perpetual
from ramparts.errors import InvalidInput
from ramparts.journal import open_journal
from ramparts.lab.book import COLUMNS, book_rows, entry_price, load_book, write_book
from ramparts.lab.population import MAKER
from ramparts.lab.replay import check_population, run_replay

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "book.csv"
HEADER = ",".join(COLUMNS)
S = 10**9


def _book(tmp_path: Path, body: str, name: str = "b.csv") -> Path:
    p = tmp_path / name
    p.write_text(HEADER + "\n" + body)
    return p


def _refused(tmp_path: Path, body: str, *wanted: str, header: str | None = None, price=None) -> str:
    p = tmp_path / "b.csv"
    p.write_text((HEADER if header is None else header) + "\n" + body)
    with pytest.raises(InvalidInput) as err:
        book = load_book(p)
        check_population(book, np.array([40_000.0, 39_000.0]) if price is None else price)
    assert err.value.field == "book"
    for w in wanted:
        assert w in err.value.message, (w, err.value.message)
    return err.value.message


# ------------------------------------------------------------------------------------------------ the schema

GOOD = "a,main,cross,collateral,USDC,1000,\na,main,cross,position,BTC-PERP,0.5,39000.5\n"

#: (file body, what the refusal says): each names the row (a CSV line, the header being line 1) and the column.
BAD = [
    ("a,main,cross,collateral,USDC,1000\n", ["line 2: 6 fields, the header has 7"]),
    ("a,main,margin,collateral,USDC,1000,\n", ["line 2, column mode", "'margin' is not one of cross, isolated, portfolio"]),
    ("a,main,cross,loan,USDC,1000,\n", ["line 2, column kind", "'loan'"]),
    ("a,main,cross,collateral,USDC,lots,\n", ["line 2, column amount", "not a number"]),
    ("a,main,cross,collateral,USDC,nan,\n", ["line 2, column amount", "finite"]),
    ("a,main,cross,collateral,USDC,-5,\n", ["line 2, column amount", "collateral is a balance ≥ 0"]),
    ("a,main,cross,collateral,USDC,,\n", ["line 2, column amount", "gives its amount"]),
    ("a,main,cross,collateral,,10,\n", ["line 2, column symbol", "names its asset"]),
    ("a,main,cross,collateral,USDC,10,5\n", ["line 2, column price", "empty on a collateral row"]),
    ("a,main,cross,position,BTC-PERP,1,\n", ["line 2, column price", "gives its entry price"]),
    ("a,main,cross,position,BTC-PERP,1,-3\n", ["line 2, column price", "positive"]),
    ("a,main,cross,position,BTC-PERP,1,1e999999999\n", ["line 2, column price"]),
    ("a,main,cross,position,BTC-PERP,0,\n", ["line 2, column amount", "flat isolated"]),
    ("a,main,cross,position,BTC-PERP,1,40000\na,main,cross,position,BTC-PERP,2,40000\n",
     ["line 3, column symbol", "a/main holds BTC-PERP twice (first at ", "line 2)"]),
    ("a,main,cross,collateral,USDC,1,\n\na,main,cross,collateral,USDC,2,\n", ["line 4, column symbol", "holds USDC twice"]),
    ("a,main,cross,collateral,USDC,1,\na,main,isolated,position,BTC-PERP,1,40000\n",
     ["line 3, column mode", "a/main is cross at", "one mode"]),
    ("a,iso,isolated,position,BTC-PERP,1,40000\na,iso,isolated,position,ETH-PERP,1,2000\n",
     ["line 3, column symbol", "isolated and already holds BTC-PERP", "one position"]),
    ("a,iso,isolated,collateral,USDC,100,\n", ["line 2, column mode", "isolated but has no position row"]),
    ("a,iso,isolated,position,BTC-PERP,0,40000\n", ["line 2, column price", "flat"]),
    ("a b,main,cross,collateral,USDC,1,\n", ["line 2, column account", "'a b' is not a name"]),
    ("a,,cross,collateral,USDC,1,\n", ["line 2, column subaccount"]),
    ("maker,main,cross,collateral,USDC,1,\n", ["line 2, column account", "the lab's own market maker"]),
    ("backstop,vault,cross,collateral,USDC,1,\n", ["line 2, column account", "backstop vault"]),
    (",,,mark,BTC-PERP,,\n", ["line 2, column price", "the price the book was valued at"]),
    ("a,,,mark,BTC-PERP,,40000\n", ["line 2, column account", "empty on a mark row"]),
    (",,,mark,BTC-PERP,,40000\n,,,mark,BTC-PERP,,41000\n", ["line 3, column symbol", "a second mark"]),
    (",,,mark,BTC-PERP,,40000\n", ["holds no sub-account"]),
    # against the replay's markets and venue
    ("a,main,cross,position,ETH-PERP,1,2000\n", ["line 2, column symbol", "ETH-PERP is not a market of this replay (it lists BTC-PERP)"]),
    (GOOD + ",,,mark,ETH-PERP,,2000\n", ["line 4, column symbol", "ETH-PERP is not a market"]),
    ("a,main,cross,collateral,BTC,1,\n", ["line 2, column symbol", "BTC is not an asset of the replay's venue", "USDC"]),
    ("a,main,cross,collateral,USDC,0.0000001,\n", ["line 2, column amount", "finer than one base unit of USDC"]),
    ("a,main,cross,collateral,USDC,100000000001,\n", ["line 2, column amount", "more than one deposit"]),
    ("a,main,cross,position,BTC-PERP,0.0005,40000\n", ["line 2, column amount", "size step 0.001"]),
    ("a,main,cross,position,BTC-PERP,1,0.05\n", ["line 2, column price", "below one tick (0.1)"]),
]


@pytest.mark.parametrize("body, wanted", BAD, ids=[b[:50] for b, _ in BAD])
def test_a_malformed_book_is_refused_naming_the_row_and_the_column(tmp_path, body, wanted):
    _refused(tmp_path, body, *wanted)


@pytest.mark.parametrize("header, wanted", [
    (HEADER + ",note", ["line 1, column note", "unknown column"]),
    ("account,subaccount,mode,kind,symbol,amount", ["line 1, column price", "missing column"]),
    ("account,account,subaccount,mode,kind,symbol,amount,price", ["line 1, column account", "twice"]),
])
def test_the_header_holds_exactly_the_seven_columns(tmp_path, header, wanted):
    _refused(tmp_path, GOOD, *wanted, header=header)


def test_files_that_are_not_books(tmp_path):
    for name, text, wanted in (("b.txt", HEADER, "a .csv or .parquet file"), ("b.csv", "", "is empty"), ("b.csv", "\n\n", "is empty")):
        (tmp_path / name).write_text(text)
        with pytest.raises(InvalidInput, match=wanted):
            load_book(tmp_path / name)
    with pytest.raises(InvalidInput, match="no such file"):
        load_book(tmp_path / "missing.csv")
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(InvalidInput, match="not a Parquet file"):
        load_book(tmp_path / "bad.parquet")


def test_a_good_book_loads_with_its_counts_columns_in_any_order_and_a_bom(tmp_path):
    cols = list(reversed(COLUMNS))
    rows = [dict(zip(COLUMNS, line.split(","), strict=True)) for line in GOOD.strip().splitlines()]
    text = ",".join(cols) + "\n" + "".join(",".join(r[c] for c in cols) + "\n" for r in rows)
    (tmp_path / "b.csv").write_text("\ufeff" + text, encoding="utf-8")
    b = load_book(tmp_path / "b.csv")
    assert (b.accounts, b.n_accounts, b.positions, b.marks) == (1, 1, 1, ())
    assert b.rows() == rows
    ex = load_book(EXAMPLE)
    assert (ex.accounts, ex.n_accounts, ex.positions) == (11, 13, 12)
    assert {s.mode for s in ex.subaccounts} == {"cross", "isolated"}
    assert any(p.size < 0 for s in ex.subaccounts for p in s.positions) and any(p.size > 0 for s in ex.subaccounts for p in s.positions)


def test_parquet_reads_like_csv_and_names_rows_from_one(tmp_path):
    ex = load_book(EXAMPLE)
    write_book(ex.rows(), tmp_path / "b.parquet")
    pq = load_book(tmp_path / "b.parquet")
    assert pq.rows() == ex.rows() and pq.format == "parquet"
    rows = ex.rows()
    rows[3] = {**rows[3], "price": "-1"}
    write_book(rows, tmp_path / "bad.parquet")
    with pytest.raises(InvalidInput, match=r"bad.parquet row 4, column price: must be positive"):
        load_book(tmp_path / "bad.parquet")
    df = pd.DataFrame(rows)
    df["amount"] = pd.to_numeric(df["amount"])
    df.to_parquet(tmp_path / "float.parquet", index=False)
    with pytest.raises(InvalidInput, match=r"column amount: is of type double .*a float is not exact"):
        load_book(tmp_path / "float.parquet")


def test_entry_price_is_the_shortest_decimal_that_gives_the_entry_value_back():
    pf = Decimal(1000)  # BTC-PERP: 0.001 BTC a lot, 10^6 base units a USDC
    assert entry_price(30_000_100_000, 1000, pf) == Decimal("30000.1")
    assert entry_price(36_040_240, 1200, pf) == Decimal("30.033533")  # 36,040,240 / 1,200,000 = 30.0335333...
    for units, lots in ((36_040_240_001, 1200), (7, 3), (10**17 - 1, 999_983)):
        p = entry_price(units, lots, pf)
        assert int((Decimal(lots) * p * pf).to_integral_value()) == units


# ------------------------------------------------------------------------------------------------ the round trip


def _venue(path: Path, *, reduce: bool = False) -> None:
    """A small journaled venue on the lab's grids: cross, isolated (one flat), portfolio; two markets; fills at
    several prices, a funding payment; with ``reduce``, a partial close (an entry value off the tick grid)."""
    node = Node(open_journal(str(path)))
    batch = [genesis(ts=0), perpetual("BTC-PERP", "BTC", ts=0), perpetual("ETH-PERP", "ETH", ts=0),
             ev.OraclePrice(ts=0, instrument="BTC-PERP", price="30000"), ev.OraclePrice(ts=0, instrument="ETH-PERP", price="2000")]
    for sub, mode, instr, cash in (("lp/main", "cross", None, "10000000"), ("lp/two", "cross", None, "1000000"), ("alice/main", "cross", None, "50000"),
                                   ("bob/iso", "isolated", "BTC-PERP", "20000"), ("carol/iso", "isolated", "ETH-PERP", "500"),
                                   ("dan/pm", "portfolio", None, "30000")):
        batch += [ev.OpenSubAccount(ts=0, subaccount=sub, mode=mode, instrument=instr),
                  ev.Deposit(ts=0, subaccount=sub, asset="USDC", amount=cash)]
    fills = [("BTC-PERP", "alice/main", "lp/main", "30000.1", "1"), ("BTC-PERP", "alice/main", "lp/main", "30100.4", "0.5"),
             ("ETH-PERP", "lp/main", "alice/main", "2001.3", "3"), ("ETH-PERP", "lp/main", "alice/main", "2001.4", "1"),
             ("BTC-PERP", "lp/two", "bob/iso", "29950", "0.7"), ("BTC-PERP", "dan/pm", "lp/main", "29990", "0.3")]  # nobody reduces
    batch += [ev.Fill(ts=S, instrument=i, buyer=b, seller=s, price=p, size=q) for i, b, s, p, q in fills]
    batch += [ev.OraclePrice(ts=2 * S, instrument="BTC-PERP", price="30500.37"), ev.FundingTick(ts=3 * S, instrument="BTC-PERP")]
    if reduce:
        batch.append(ev.Fill(ts=4 * S, instrument="BTC-PERP", buyer="dan/pm", seller="alice/main", price="30400", size="0.001"))
    with node:
        for o in node.submit_batch(batch):
            assert o.accepted, o.error


def _opened(book_file: Path, tmp_path: Path):
    """Replay ``book_file`` over a flat path at its marks; the engine right after the opening (before the fund is
    seeded) rebuilt from the run's journal, and the run."""
    book = load_book(book_file)
    marks = {m.instrument: float(m.price) for m in book.marks}
    url = str(tmp_path / "run.sqlite")
    r = run_replay(np.array([0, 60 * S]), {s: np.array([p, p]) for s, p in marks.items()}, population=book, journal_url=url)
    with open_journal(url, create=False) as j:
        seq = next(rec.seq for rec in j.read() if rec.kind == "FundInsurance") - 1
        return replay(j, to_seq=seq), r, seq


def _by_sub(rows):
    return [r for r in rows if (r["account"], r["subaccount"]) != tuple(MAKER.split("/"))]


def test_a_journal_exported_loaded_and_opened_holds_the_same_book_to_the_base_unit(tmp_path):
    _venue(tmp_path / "venue.sqlite")
    res = CliRunner().invoke(app, ["export-book", str(tmp_path / "venue.sqlite"), "--out", str(tmp_path / "book.csv")])
    assert res.exit_code == 0, res.output
    assert res.output.strip().splitlines()[-1] == f"book: {tmp_path / 'book.csv'}"
    with open_journal(str(tmp_path / "venue.sqlite"), create=False) as j:
        venue = replay(j)
    rows = book_rows(venue)
    assert [r["kind"] for r in rows].count("mark") == 2 and {"isolated", "portfolio", "cross"} <= {r["mode"] for r in rows}
    assert any(r["kind"] == "position" and r["amount"] == "0" for r in rows)  # carol's flat isolated sub-account
    engine, run, seq = _opened(tmp_path / "book.csv", tmp_path)
    assert run.summary["book"]["refused"] == [] and run.summary["book"]["entry_adjustment_usdc"] == 0
    assert run.summary["value_conserved"] and run.summary["replay_identical"]
    # the opened engine, exported, is the book again: every collateral, size, entry price and mark, exactly
    assert _by_sub(book_rows(engine)) == rows
    res = CliRunner().invoke(app, ["export-book", str(tmp_path / "run.sqlite"), "--seq", str(seq), "--out", str(tmp_path / "again.parquet"),
                                   "--exclude", MAKER])
    assert res.exit_code == 0, res.output
    assert load_book(tmp_path / "again.parquet").rows() == load_book(tmp_path / "book.csv").rows()
    for sub in venue.subs:
        if venue.is_system[sub.index]:
            continue
        s = engine.sub_index(str(sub.id))
        assert engine.equity(s) == venue.equity(sub.index), sub.id  # the same marks: the same equity, to the unit
        for instr in venue.instruments:
            lots, _, entry = venue.position(sub.index, instr.symbol)
            assert engine.position(s, instr.symbol)[0::2] == (lots, entry)


def test_an_entry_value_off_the_tick_grid_is_rounded_against_the_account_and_the_equity_stays_exact(tmp_path):
    _venue(tmp_path / "venue.sqlite", reduce=True)  # alice sells 0.001 of 1.5: her entry value 45,050,300,000 × 1,499 / 1,500, rounded down
    with open_journal(str(tmp_path / "venue.sqlite"), create=False) as j:
        venue = replay(j)
    write_book(book_rows(venue), tmp_path / "book.csv")
    engine, run, _ = _opened(tmp_path / "book.csv", tmp_path)
    a_old, a_new = venue.sub_index("alice/main"), engine.sub_index("alice/main")
    lots, _, entry = venue.position(a_old, "BTC-PERP")
    assert entry % 100  # not a multiple of one tick of one lot (100 base units)
    new_lots, _, new_entry = engine.position(a_new, "BTC-PERP")
    assert new_lots == lots and 0 < new_entry - entry < 100  # a long's entry rounded up, by less than a tick of a lot
    adj = run.summary["book"]["entry_adjustment_usdc"]
    assert adj == (new_entry - entry) / 1e6
    for sub in venue.subs:
        if not venue.is_system[sub.index]:
            assert engine.equity(engine.sub_index(str(sub.id))) == venue.equity(sub.index), sub.id


def test_a_split_fill_refused_in_its_second_part_is_closed_again_whole(tmp_path):
    # 0.01 BTC at 10,000.09: 1 lot at 10,000.0 (the better part), then 9 at 10,000.1; 0.5 USDC carries one lot, not ten
    p = _book(tmp_path, "a,iso,isolated,collateral,USDC,0.5,\na,iso,isolated,position,BTC-PERP,0.01,10000.09\n"
                        "b,main,cross,collateral,USDC,1000,\nb,main,cross,position,BTC-PERP,-0.01,10000.09\n,,,mark,BTC-PERP,,10000\n")
    r = run_replay(np.array([0, 60 * S]), np.array([10_000.0, 10_000.0]), population=load_book(p))
    b = r.summary["book"]
    assert b["split_fills_closed_again"] == 1 and b["positions_refused"] == 1 and b["positions_opened"] == 1
    (refused,) = b["refused"]
    assert refused["subaccount"] == "a/iso" and refused["reason"] == "initial_margin" and refused["row"].endswith("line 3")
    assert r.summary["open_interest_usdc"] == pytest.approx(100.0)  # b's short, against the maker
    assert r.summary["replay_identical"] and r.summary["value_conserved"]


def test_a_cross_account_opens_its_most_profitable_position_first(tmp_path):
    # the file lists the losing ETH long first: opened first, it alone would be below initial margin (100 − 500 USDC)
    p = _book(tmp_path, "a,main,cross,collateral,USDC,100,\na,main,cross,position,ETH-PERP,1,2500\n"
                        "a,main,cross,position,BTC-PERP,0.1,30000\n,,,mark,BTC-PERP,,40000\n,,,mark,ETH-PERP,,2000\n")
    r = run_replay(np.array([0, 60 * S]), {"BTC-PERP": np.array([1.0, 1.0]), "ETH-PERP": np.array([1.0, 1.0])},
                   population=load_book(p), verify_replay=False)
    assert r.summary["book"]["refused"] == [] and r.summary["book"]["positions_opened"] == 2
    assert r.summary["first_price"] == 40_000.0  # both paths rebased to the marks


# ------------------------------------------------------------------------------------------------ the replay


def test_a_replay_of_the_example_book_states_its_facts_and_reports_what_the_engine_refused():
    from ramparts.lab.events import event_path, resolve_event

    path = event_path(resolve_event("black-thursday-2020"))
    r = run_replay(path.ts_ns[:400], path.price[:400], population=load_book(EXAMPLE))
    s, b = r.summary, r.summary["book"]
    assert s["value_conserved"] and s["replay_identical"] and s["loss_accounting"]["adds_up"]
    assert (b["accounts"], b["subaccounts"], b["positions"], b["positions_opened"], b["positions_refused"]) == (11, 13, 12, 11, 1)
    assert [(x["subaccount"], x["reason"]) for x in b["refused"]] == [("retail-04/iso", "initial_margin")]
    assert b["rebased"]["BTC-PERP"]["mark"] == "95000" and s["first_price"] == pytest.approx(95_000.0)
    # open interest at the open: the larger side of the opened book at the mark (the maker holds the rest)
    assert s["open_interest_usdc"] == b["open_interest_usdc"] == max(b["long_notional_usdc"], b["short_notional_usdc"])
    assert b["long_notional_usdc"] == pytest.approx((40 + 600 + 12 + 1.5 + 0.8 + 5) * 95_000)
    assert s["fund"]["open_interest_usdc"] == s["open_interest_usdc"] and s["accounts"] == 13
    assert s["population"]["file"] == str(EXAMPLE)


def test_without_a_mark_the_path_stands_and_positions_carry_their_pnl_to_its_first_price(tmp_path):
    p = _book(tmp_path, "a,main,cross,collateral,USDC,10000,\na,main,cross,position,BTC-PERP,1,39000\n")
    r = run_replay(np.array([0, 60 * S]), np.array([40_000.0, 40_000.0]), population=load_book(p), verify_replay=False)
    assert r.summary["book"]["rebased"] == {} and r.summary["first_price"] == 40_000.0
    assert r.summary["book"]["positions_opened"] == 1


def test_stress_and_calibrate_open_the_book_on_every_path():
    from ramparts.lab.calibrate import ParameterGrid, Scenarios, run_calibration
    from ramparts.lab.stress import StressSpec, run_stress

    book = load_book(EXAMPLE)
    spec = StressSpec(scenario="jump", n_paths=2, n_steps=8)
    res = run_stress(spec, population=book)
    assert res.summary["book"]["positions_refused_max"] == 1 and list(res.table["book_positions_refused"]) == [1, 1]
    cal = run_calibration(ParameterGrid(margin_scale=(1.0, 8.0), max_fraction=(1.0,)), Scenarios(events=(), stress=spec), population=book)
    refused = dict(zip(cal.frontier["margin_scale"], cal.frontier["book_positions_refused_max"], strict=True))
    assert refused[1.0] == 1 and refused[8.0] > 1  # eight times the margin: more of the book is below initial margin


# ------------------------------------------------------------------------------------------------ the command line


def _bars(n: int = 30) -> pd.DataFrame:
    t = pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC")
    c = 40_000 * np.exp(np.linspace(0, -0.3, n))
    o = np.concatenate([[c[0]], c[:-1]])
    return pd.DataFrame({"time": t.strftime("%Y-%m-%dT%H:%M:%SZ"), "open": o, "high": np.maximum(o, c) * 1.002,
                         "low": np.minimum(o, c) * 0.998, "close": c, "volume": 1.0})


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _bars().to_csv("crash.csv", index=False)
    Path("small.csv").write_text(HEADER + "\n" + GOOD + "b,iso,isolated,collateral,USDC,5000,\nb,iso,isolated,position,BTC-PERP,-0.5,40100\n")
    Path("bad.csv").write_text(HEADER + "\n" + GOOD + "b,main,cross,position,BTC-PERP,1,\n")
    Path("eth.csv").write_text(HEADER + "\n" + "a,main,cross,position,ETH-PERP,1,2000\n")
    Path("exists.csv").write_text("x")
    _venue(tmp_path / "j.sqlite")
    return tmp_path


def _tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def run(*args: str):
    return CliRunner().invoke(app, list(args))


CLI_BAD = [
    (["replay", "crash.csv", "--book", "small.csv", "--accounts", "5"], ["--book replaces the synthetic population", "--accounts"]),
    (["replay", "crash.csv", "--book", "small.csv", "--population", "uniform", "--seed", "2"], ["--population and --seed"]),
    (["compare", "crash.csv", "--book", "small.csv", "--seed", "3"], ["--book", "--seed"]),
    (["stress", "--book", "small.csv", "--accounts", "10"], ["--book", "--accounts"]),
    (["calibrate", "--book", "small.csv", "--accounts", "10"], ["--book", "--accounts"]),
    (["replay", "crash.csv", "--book", "missing.csv"], ["--book", "no such file: missing.csv"]),
    (["replay", "crash.csv", "--book", "bad.csv"], ["--book", "bad.csv line 4, column price", "entry price"]),
    (["compare", "crash.csv", "--book", "eth.csv"], ["--book", "eth.csv line 2, column symbol", "ETH-PERP is not a market"]),
    (["stress", "--book", "eth.csv"], ["--book", "ETH-PERP is not a market of this replay (it lists BTC-PERP)"]),
    (["calibrate", "--book", "eth.csv", "--events", "", "--scenario", "jump"], ["--book", "column symbol"]),
    (["export-book", "missing.sqlite", "--out", "b.csv"], ["JOURNAL", "no such journal file"]),
    (["export-book", "j.sqlite", "--out", "b.txt"], ["--out", "--format csv"]),
    (["export-book", "j.sqlite", "--out", "b.csv", "--format", "parquet"], ["--format parquet", "csv file"]),
    (["export-book", "j.sqlite", "--out", "b.csv", "--format", "xlsx"], ["--format", "csv or parquet"]),
    (["export-book", "j.sqlite", "--out", "nodir/b.csv"], ["--out", "nodir does not exist"]),
    (["export-book", "j.sqlite", "--out", "exists.csv"], ["--out", "already exists", "--force"]),
    (["export-book", "j.sqlite", "--out", "b.csv", "--seq", "0"], ["--seq"]),
    (["export-book", "j.sqlite", "--out", "b.csv", "--seq", "9999"], ["--seq", "holds"]),
]


@pytest.mark.parametrize("args, wanted", CLI_BAD, ids=[" ".join(a)[:60] for a, _ in CLI_BAD])
def test_book_flags_refused_in_one_line_naming_the_flag_and_nothing_is_created(here, args, wanted):
    before = _tree(here)
    res = run(*args)
    out = res.output
    assert res.exit_code == 2 and "Traceback" not in out and out.startswith("error:"), out
    assert len([ln for ln in out.splitlines() if ln.strip()]) == 1, out
    for w in wanted:
        assert w in out, (w, out)
    assert _tree(here) == before, "a refused command created files"


def test_the_example_book_replays_black_thursday_end_to_end(here):
    res = run("replay", "black-thursday-2020", "--book", str(EXAMPLE), "--out", "out")
    assert res.exit_code == 0, res.output
    assert "opening fills refused: 1 fill(s) of 1 position(s)" in res.output and "retail-04/iso" in res.output
    assert "path rebased to the book's mark" in res.output
    s = json.loads((here / "out" / "summary.json").read_text())
    assert s["book"]["file"] == str(EXAMPLE) and s["book"]["positions_opened"] == 11 and s["replay_identical"]
    assert s["book"]["refused"][0]["row"] == f"{EXAMPLE} line 25"
    assert "scenario" not in s and "crowd" not in s
    assert res.output.strip().splitlines()[-1] == "report: out/report.html"


def test_compare_and_export_book_on_the_command_line(here):
    res = run("compare", "crash.csv", "--book", "small.csv", "--venues", "ramparts,binance", "--fund", "250000", "--out", "cmp")
    assert res.exit_code == 0, res.output
    doc = json.loads((here / "cmp" / "compare.json").read_text())
    assert doc["book"]["file"] == "small.csv" and set(doc["book"]["by_venue"]) == {"ramparts", "binance"}
    assert all(v["book_positions_refused"] == 0 for v in doc["venues"])
    res = run("export-book", "j.sqlite", "--out", "exists.csv", "--force")
    assert res.exit_code == 0, res.output
    assert load_book(here / "exists.csv").n_accounts == 6
