"""Your own book: a risk team's sub-accounts, collateral and positions, replayed instead of a synthetic crowd.

``ramparts replay``, ``compare``, ``stress`` and ``calibrate`` take ``--book FILE``; ``ramparts export-book JOURNAL``
writes the same file from a journal, so a venue's live state reloads the same way. :func:`load_book` reads and
checks a file, :meth:`Book.check` checks it against the markets of a replay, :func:`open_book` opens it in one,
:func:`book_rows` reads a book out of an engine and :func:`write_book` writes one.

Schema
------
A book is a CSV file (UTF-8, a header line, comma-separated) or a Parquet file (every column a string; ``amount``
and ``price`` may also be decimal or integer columns, never floats, which are not exact). One row per holding, seven
columns, no others::

    account,subaccount,mode,kind,symbol,amount,price
    desk-a,main,cross,collateral,USDC,250000,
    desk-a,main,cross,position,BTC-PERP,12.5,7950.4
    desk-a,hedge,isolated,position,BTC-PERP,-3,8012.3
    ,,,mark,BTC-PERP,,7900

=================  =================================================================================================
``account``        the owner (1-64 letters, digits and ``. _ : @ -``); empty on a ``mark`` row
``subaccount``     the sub-account, the unit of margining (same rule); the engine's id is ``account/subaccount``
``mode``           ``cross``, ``isolated`` or ``portfolio``; every row of a sub-account carries the same mode
``kind``           ``collateral``, ``position`` or ``mark``
``symbol``         the asset (``collateral``) or the instrument (``position``, ``mark``)
``amount``         ``collateral``: the balance, a decimal ≥ 0; ``position``: the signed size in contracts (long > 0,
                   short < 0); empty on a ``mark`` row
``price``          ``position``: the average entry price (quote per contract unit), > 0; ``mark``: the price at which
                   the book was valued; empty on a ``collateral`` row and on a flat (size 0) position
=================  =================================================================================================

Rules (a file breaking one is refused before anything runs; the error names the file, the row and the column: ``line N``
of a CSV, the header being line 1, or ``row N`` of a Parquet file, the first data row being row 1):

* the header holds exactly the seven columns, in any order, each once; blank CSV lines are skipped;
* a sub-account has at most one ``collateral`` row per asset and one ``position`` row per instrument; one ``mark``
  row per instrument;
* an **isolated** sub-account has exactly one position row (size 0 if it is flat: the row names the instrument the
  sub-account is bound to); a size 0 position is allowed there only;
* the lab's own accounts (``maker/main``, the market maker every position is opened against, and ``backstop/vault``)
  cannot be in a book;
* against a replay (:meth:`Book.check`): a position or mark names an instrument the replay lists, its size lies on the
  instrument's size step and its entry price is at least one tick; collateral is in an asset the replay venue lists
  (the lab's venues list USDC only).

Collateral is the **wallet balance**: deposits, realised PnL, funding and fees, with the unrealised PnL of the open
positions left out (what a venue calls the wallet balance). A position's unrealised PnL is derived:
``size × (mark − entry price)``; its **entry value** is ``|size| × entry price × contract size`` in base units of the
settlement asset (10⁻⁶ USDC), rounded half-even to one unit. An account's equity at a mark is then
``wallet + Σ size × (mark − entry price)``, exactly as the venue computed it.

Marks and the path
------------------
A ``mark`` row says at what price the book was valued (``export-book`` writes the venue's marks). When a book has a
mark for a market, the replay's path of that market is **rebased** to it: every price is multiplied by
``mark / first price of the path``, so the crash's moves apply to the book from its own mark (Black Thursday's −50 %
from today's price, not from 7,900). Without a mark the path's own prices stand and each position carries its PnL
from its entry price to the path's first price. The summary states each market's factor.

Opening (:func:`open_book`)
---------------------------
Every position is opened at its entry price against the lab's market maker (``maker/main``) while the mark is the
path's first price, so the account's equity at the open is ``wallet + Σ size × (mark − entry price)``, exact to the
base unit. A fill must lie on the tick grid; an entry price between two ticks is filled in two parts at the two ticks
around it (``n`` lots at the lower tick, ``|lots| − n`` at the upper, so that ``Σ lots × price`` is the entry value),
which reproduces the entry value to the unit whenever it is a multiple of one tick of one lot (always so for a position
built by fills alone). Otherwise (a partial close rounds an average down) the entry value is rounded to that multiple
against the account (up for a long, down for a short) and the difference, less than one tick of one lot (0.0001 USDC
on the lab's BTC-PERP), is added to the account's deposit, so that its equity stays exact; the summary's
``entry_adjustment_usdc`` is the total.

The engine checks initial margin on every fill; a book taken from a live venue can hold accounts between maintenance
and initial margin, which the engine refuses to open (there is no bypass: a journal replays only what the engine
accepts). They are **reported**, never dropped in silence: the summary's ``book.refused`` lists every refused event
(sub-account, instrument, the file's row, the engine's reason) and the console prints ``opening fills refused``. To
refuse no more than the engine must, a sub-account's positions are opened in descending order of
``PnL at the mark − initial margin`` and a split fill's better-priced part first; a position whose second part is
refused after its first was accepted is closed again at its first part's price (a journaled fill that restores the
account exactly), so an account holds each of its positions whole or not at all.

The maker is funded with ``maker_collateral_multiple`` × the book's gross notional (at the mark and at entry), at
most :data:`~ramparts.lab.crowd.MAKER_CAP_USD`; it takes the other side of every position, so the venue's open
interest at the open (one side, at the mark) is ``max(Σ long, Σ short)`` per market, which sizes the insurance fund
as for a crowd.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from pathlib import Path

from ramparts.domain.accounts import SubAccountId, check_name
from ramparts.engine import events as ev
from ramparts.errors import InvalidInput
from ramparts.fixedpoint import to_decimal

#: The columns of a book, in the order :func:`write_book` writes them.
COLUMNS = ("account", "subaccount", "mode", "kind", "symbol", "amount", "price")
MODES = ("cross", "isolated", "portfolio")
KINDS = ("collateral", "position", "mark")
#: Accounts the lab opens itself: a book may not use them.
RESERVED = ("maker/main", "backstop/vault")
FORMATS = ("csv", "parquet")
#: The most one ``Deposit`` carries (the engine's limit), base units.
MAX_DEPOSIT_UNITS = 10**17


def _fail(where: str, column: str | None, message: str) -> InvalidInput:
    return InvalidInput("book", f"{where}{'' if column is None else f', column {column}'}: {message}")


@dataclass(frozen=True)
class Collateral:
    asset: str
    amount: Decimal
    where: str  #: "book.csv line 3"


@dataclass(frozen=True)
class Position:
    instrument: str
    size: Decimal  #: signed, contracts; 0: a flat isolated sub-account's instrument
    entry_price: Decimal | None
    where: str


@dataclass(frozen=True)
class SubAccountBook:
    subaccount: str  #: ``account/sub``
    mode: str
    collateral: tuple[Collateral, ...]
    positions: tuple[Position, ...]
    where: str  #: its first row

    @property
    def account(self) -> str:
        return self.subaccount.split("/")[0]

    @property
    def instrument(self) -> str | None:
        """The instrument an isolated sub-account is bound to."""
        return self.positions[0].instrument if self.mode == "isolated" else None


@dataclass(frozen=True)
class Mark:
    instrument: str
    price: Decimal
    where: str


@dataclass(frozen=True)
class Book:
    """A loaded, checked book (see the module docstring); what ``run_replay(population=...)`` accepts."""

    file: str
    format: str
    sha256: str
    subaccounts: tuple[SubAccountBook, ...]
    marks: tuple[Mark, ...] = ()
    maker_collateral_multiple: float = 10.0

    @property
    def n_accounts(self) -> int:
        """Sub-accounts in the book (the unit a crowd counts as an account)."""
        return len(self.subaccounts)

    @property
    def accounts(self) -> int:
        """Distinct owners."""
        return len({s.account for s in self.subaccounts})

    @property
    def positions(self) -> int:
        return sum(1 for s in self.subaccounts for p in s.positions if p.size != 0)

    def mark(self, instrument: str) -> Decimal | None:
        return next((m.price for m in self.marks if m.instrument == instrument), None)

    def to_dict(self) -> dict:
        assets: dict[str, Decimal] = {}
        for s in self.subaccounts:
            for c in s.collateral:
                assets[c.asset] = assets.get(c.asset, Decimal(0)) + c.amount
        return {"file": self.file, "format": self.format, "sha256": self.sha256, "accounts": self.accounts,
                "subaccounts": self.n_accounts, "positions": self.positions,
                "isolated": sum(1 for s in self.subaccounts if s.mode == "isolated"),
                "collateral": {k: str(v) for k, v in sorted(assets.items())},
                "marks": {m.instrument: str(m.price) for m in self.marks},
                "maker_collateral_multiple": self.maker_collateral_multiple}

    def rows(self) -> list[dict[str, str]]:
        """The book as rows of the schema (decimal strings; empty cells ``""``)."""
        out = []
        for s in self.subaccounts:
            account, sub = s.subaccount.split("/")
            for c in s.collateral:
                out.append(_row(account, sub, s.mode, "collateral", c.asset, c.amount, None))
            for p in s.positions:
                out.append(_row(account, sub, s.mode, "position", p.instrument, p.size, p.entry_price))
        out += [_row("", "", "", "mark", m.instrument, None, m.price) for m in self.marks]
        return out

    # ------------------------------------------------------------------------------------------------------------
    def check(self, instruments: Mapping[str, object], assets: Mapping[str, object]) -> None:
        """Refuse a book the replay cannot open: an instrument it does not list, a size off the instrument's step, an
        entry price below one tick, collateral in an asset its venue does not list or finer than the asset's base
        unit. ``instruments`` and ``assets`` map each listed symbol to its
        :class:`~ramparts.domain.instruments.Instrument` / :class:`~ramparts.domain.assets.Asset`; the error names the
        row and the column."""
        listed = ", ".join(instruments) or "none"

        def instrument(symbol: str, where: str):
            instr = instruments.get(symbol)
            if instr is None:
                raise _fail(where, "symbol", f"{symbol} is not a market of this replay (it lists {listed})")
            return instr

        for m in self.marks:
            instrument(m.instrument, m.where)
        for s in self.subaccounts:
            for c in s.collateral:
                asset = assets.get(c.asset)
                if asset is None:
                    raise _fail(c.where, "symbol", f"{c.asset} is not an asset of the replay's venue, which takes "
                                                   f"{', '.join(assets)} collateral only")
                scaled = c.amount.scaleb(asset.decimals)
                if scaled != scaled.to_integral_value():
                    raise _fail(c.where, "amount", f"{c.amount} is finer than one base unit of {c.asset} ({asset.decimals} decimals)")
                if scaled > MAX_DEPOSIT_UNITS:
                    raise _fail(c.where, "amount", f"{c.amount} is more than one deposit may carry (10^17 base units)")
            for p in s.positions:
                instr = instrument(p.instrument, p.where)
                lots = p.size / instr.size_step
                if lots != lots.to_integral_value():
                    raise _fail(p.where, "amount", f"{p.size} is not on {p.instrument}'s size step {instr.size_step}")
                if p.size and p.entry_price < instr.tick_size:
                    raise _fail(p.where, "price", f"{p.entry_price} is below one tick ({instr.tick_size}) of {p.instrument}")

    def rebase(self, paths: Mapping[str, object]) -> tuple[dict, dict]:
        """``paths`` with each market the book marks multiplied by ``mark / first price`` (module docstring), and the
        facts: per market, the path's first price, the mark and the factor."""
        out, facts = dict(paths), {}
        for m in self.marks:
            p = paths.get(m.instrument)
            if p is None:
                continue
            factor = float(m.price) / float(p[0])
            out[m.instrument] = p * factor
            facts[m.instrument] = {"path_first_price": float(p[0]), "mark": str(m.price), "factor": factor}
        return out, facts


def _row(account: str, sub: str, mode: str, kind: str, symbol: str, amount: Decimal | None, price: Decimal | None) -> dict:
    return {"account": account, "subaccount": sub, "mode": mode, "kind": kind, "symbol": symbol,
            "amount": "" if amount is None else _text(amount), "price": "" if price is None else _text(price)}


def _text(d: Decimal) -> str:
    """A decimal as plain text (no exponent), trailing zeros of a fraction dropped."""
    s = format(d, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return "0" if s in ("", "-0") else s


# ----------------------------------------------------------------------------------------------------------------
# reading


def load_book(path: str | Path) -> Book:
    """Read and check a book file (CSV or Parquet, by its suffix; the schema in the module docstring)."""
    p = Path(path).expanduser()
    name = str(path)
    if not p.exists():
        raise InvalidInput("book", f"no such file: {name}")
    if p.is_dir():
        raise InvalidInput("book", f"{name} is a folder, not a book file")
    suffix = p.suffix.lower()
    if suffix == ".csv":
        fmt, records = "csv", _read_csv(p, name)
    elif suffix in (".parquet", ".pq"):
        fmt, records = "parquet", _read_parquet(p, name)
    else:
        raise InvalidInput("book", f"{name}: a book is a .csv or .parquet file")
    digest = hashlib.sha256(p.read_bytes()).hexdigest()
    return _parse(records, name, fmt, digest)


def _header(cols: Sequence[str], where: str) -> None:
    seen: set[str] = set()
    for c in cols:
        if c not in COLUMNS:
            raise _fail(where, c, f"unknown column (a book has exactly {', '.join(COLUMNS)})")
        if c in seen:
            raise _fail(where, c, "the column appears twice")
        seen.add(c)
    missing = [c for c in COLUMNS if c not in seen]
    if missing:
        raise _fail(where, missing[0], f"missing column (a book has {', '.join(COLUMNS)})")


def _read_csv(p: Path, name: str) -> list[tuple[str, dict[str, str]]]:
    try:
        text = p.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput("book", f"{name}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    out: list[tuple[str, dict[str, str]]] = []
    header: list[str] | None = None
    last = 0
    try:
        for fields in reader:
            line, last = last + 1, reader.line_num
            if not fields or all(not f.strip() for f in fields):
                continue
            if header is None:
                header = [f.strip() for f in fields]
                _header(header, f"{name} line {line}")
                continue
            where = f"{name} line {line}"
            if len(fields) != len(header):
                raise _fail(where, None, f"{len(fields)} fields, the header has {len(header)}")
            out.append((where, {c: v.strip() for c, v in zip(header, fields, strict=True)}))
    except csv.Error as exc:
        raise _fail(f"{name} line {reader.line_num}", None, f"not CSV: {exc}") from None
    if header is None:
        raise InvalidInput("book", f"{name} is empty (a book starts with the header {','.join(COLUMNS)})")
    return out


def _read_parquet(p: Path, name: str) -> list[tuple[str, dict[str, str]]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(p)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InvalidInput("book", f"{name}: not a Parquet file ({exc})") from None
    _header(table.column_names, f"{name} header")
    columns: dict[str, list[str]] = {}
    for c in COLUMNS:
        col = table.column(c)
        t = col.type
        if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t):
            values = ["" if v is None else str(v).strip() for v in col.to_pylist()]
        elif c in ("amount", "price") and (pa.types.is_integer(t) or pa.types.is_decimal(t)):
            values = ["" if v is None else _text(Decimal(v)) for v in col.to_pylist()]
        else:
            hint = "write decimals as strings or a decimal type: a float is not exact" if pa.types.is_floating(t) else "a string column"
            raise _fail(f"{name} header", c, f"is of type {t} ({hint})")
        columns[c] = values
    return [(f"{name} row {i + 1}", {c: columns[c][i] for c in COLUMNS}) for i in range(table.num_rows)]


def _decimal(text: str, where: str, column: str) -> Decimal:
    """A cell's decimal, by the engine's one rule for user decimals (:func:`ramparts.fixedpoint.to_decimal`)."""
    try:
        return to_decimal(text, column)
    except InvalidInput as exc:
        raise _fail(where, column, f"{exc.message} (a decimal number, e.g. 12.5)") from None


def _parse(records: list[tuple[str, dict[str, str]]], name: str, fmt: str, digest: str) -> Book:
    subs: dict[str, dict] = {}
    marks: dict[str, Mark] = {}
    for where, r in records:
        kind = r["kind"]
        if kind not in KINDS:
            raise _fail(where, "kind", f"{kind!r} is not one of {', '.join(KINDS)}")
        symbol = r["symbol"]
        if not symbol:
            raise _fail(where, "symbol", f"a {kind} row names its {'asset' if kind == 'collateral' else 'instrument'}")
        if kind == "mark":
            for c in ("account", "subaccount", "mode", "amount"):
                if r[c]:
                    raise _fail(where, c, "must be empty on a mark row")
            if not r["price"]:
                raise _fail(where, "price", "a mark row gives the price the book was valued at")
            price = _decimal(r["price"], where, "price")
            if price <= 0:
                raise _fail(where, "price", f"must be positive, got {r['price']}")
            if symbol in marks:
                raise _fail(where, "symbol", f"a second mark of {symbol} (the first is at {marks[symbol].where})")
            marks[symbol] = Mark(symbol, price, where)
            continue
        for c in ("account", "subaccount"):
            try:
                check_name(r[c], c)
            except InvalidInput:
                raise _fail(where, c, f"{r[c]!r} is not a name (1-64 letters, digits and . _ : @ -, "
                                      "starting with a letter or digit)") from None
        sid = f"{r['account']}/{r['subaccount']}"
        if sid in RESERVED:
            raise _fail(where, "account", f"{sid} is the lab's own {'market maker' if sid == RESERVED[0] else 'backstop vault'}; "
                                          f"rename it (a lab replay's journal holds it: export-book --exclude {sid})")
        mode = r["mode"]
        if mode not in MODES:
            raise _fail(where, "mode", f"{mode!r} is not one of {', '.join(MODES)}")
        s = subs.setdefault(sid, {"mode": mode, "where": where, "collateral": {}, "positions": {}})
        if s["mode"] != mode:
            raise _fail(where, "mode", f"{sid} is {s['mode']} at {s['where']}; a sub-account has one mode")
        if not r["amount"]:
            raise _fail(where, "amount", f"a {kind} row gives its {'amount' if kind == 'collateral' else 'size'}")
        amount = _decimal(r["amount"], where, "amount")
        if kind == "collateral":
            if r["price"]:
                raise _fail(where, "price", "must be empty on a collateral row")
            if amount < 0:
                raise _fail(where, "amount", f"{r['amount']}: collateral is a balance ≥ 0 (a debt cannot be deposited)")
            if symbol in s["collateral"]:
                raise _fail(where, "symbol", f"{sid} holds {symbol} twice (first at {s['collateral'][symbol].where})")
            s["collateral"][symbol] = Collateral(symbol, amount, where)
        else:
            if symbol in s["positions"]:
                raise _fail(where, "symbol", f"{sid} holds {symbol} twice (first at {s['positions'][symbol].where})")
            if amount == 0:
                if mode != "isolated":
                    raise _fail(where, "amount", "a size 0 position only names the instrument of a flat isolated sub-account")
                if r["price"]:
                    raise _fail(where, "price", "a flat (size 0) position has no entry price")
                price = None
            else:
                if not r["price"]:
                    raise _fail(where, "price", "a position gives its entry price")
                price = _decimal(r["price"], where, "price")
                if price <= 0:
                    raise _fail(where, "price", f"must be positive, got {r['price']}")
            if mode == "isolated" and s["positions"]:
                first = next(iter(s["positions"].values()))
                raise _fail(where, "symbol", f"{sid} is isolated and already holds {first.instrument} ({first.where}); "
                                             "an isolated sub-account holds one position")
            s["positions"][symbol] = Position(symbol, amount, price, where)
    book_subs = []
    for sid, s in subs.items():
        if s["mode"] == "isolated" and not s["positions"]:
            raise _fail(s["where"], "mode", f"{sid} is isolated but has no position row (a flat one has size 0 and "
                                            "names its instrument)")
        book_subs.append(SubAccountBook(sid, s["mode"], tuple(s["collateral"].values()), tuple(s["positions"].values()), s["where"]))
    if not book_subs:
        raise InvalidInput("book", f"{name} holds no sub-account")
    return Book(file=name, format=fmt, sha256=digest, subaccounts=tuple(book_subs), marks=tuple(marks.values()))


# ----------------------------------------------------------------------------------------------------------------
# writing, and a book out of an engine


def entry_price(entry_units: int, lots: int, price_factor: Decimal) -> Decimal:
    """The shortest decimal price ``p`` with ``round_half_even(|lots| × p × price_factor) = |entry_units|``: the
    position's average entry price, exact enough that its entry value comes back to the base unit."""
    e, n = abs(int(entry_units)), abs(int(lots))
    with localcontext() as ctx:
        ctx.prec = 60
        exact = Decimal(e) / (Decimal(n) * price_factor)
        for places in range(0, 40):
            p = exact.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
            if p > 0 and (Decimal(n) * p * price_factor).to_integral_value(rounding=ROUND_HALF_EVEN) == e:
                return p.normalize() if p == p.to_integral_value() else p
    return exact  # pragma: no cover - 40 places always recover a 64-bit value


def entry_units(size: Decimal, price: Decimal, instr) -> int:
    """A position's entry value in base units of the settlement asset (signed like the size):
    ``size × price × contract size × 10^decimals``, rounded half-even."""
    lots = int(size / instr.size_step)
    with localcontext() as ctx:
        ctx.prec = 60
        units = int((Decimal(abs(lots)) * price * instr.price_factor).to_integral_value(rounding=ROUND_HALF_EVEN))
    return units if lots > 0 else -units


def book_rows(engine, exclude: Iterable[str] = ()) -> list[dict[str, str]]:
    """Every non-system sub-account of ``engine`` (but those ``exclude`` names, ``account/sub``) as rows of the schema:
    its collateral (the settlement asset's wallet balance, ``cash + Σ (entry − cost)`` of its positions, then every
    other asset it holds), its positions (size, entry price) and, last, the mark of every instrument a position is in."""
    e = engine
    skip = {str(SubAccountId.parse(x, "exclude")) for x in exclude}
    settlement = e.settlement.symbol
    others = sorted(a for a in e.assets if a != settlement)
    rows: list[dict[str, str]] = []
    held: set[int] = set()
    for s, sub in enumerate(e.subs):
        if e.is_system[s] or str(sub.id) in skip:
            continue
        account, name = sub.id.account, sub.id.sub
        mode = sub.mode.value
        positions = e.book.positions_of(s)
        wallet = e.ledger.balance(settlement, s)
        lines = []
        for instr_idx, slot in positions:
            instr = e.instruments[instr_idx]
            lots, cost, entry = int(e.book.lots[slot]), int(e.book.cost[slot]), int(e.book.entry[slot])
            wallet += entry - cost
            if lots == 0:
                continue
            held.add(instr_idx)
            lines.append(_row(account, name, mode, "position", instr.symbol, instr.size(lots),
                              entry_price(entry, lots, instr.price_factor)))
        if sub.instrument is not None and not lines:  # a flat isolated sub-account: its instrument, size 0
            lines.append(_row(account, name, mode, "position", e.instruments[sub.instrument].symbol, Decimal(0), None))
        rows.append(_row(account, name, mode, "collateral", settlement, e.settlement.amount(wallet), None))
        for a in others:
            bal = e.ledger.balance(a, s)
            if bal:
                rows.append(_row(account, name, mode, "collateral", a, e.assets[a].amount(bal), None))
        rows += lines
    for i in sorted(held):
        instr = e.instruments[i]
        rows.append(_row("", "", "", "mark", instr.symbol, None, instr.price(e.markets[i].mark)))
    return rows


def write_book(rows: Sequence[Mapping[str, str]], path: str | Path, fmt: str | None = None) -> Path:
    """Write ``rows`` (the schema's columns, decimal strings) as CSV or Parquet (``fmt``, else by the suffix)."""
    p = Path(path)
    fmt = fmt or ("parquet" if p.suffix.lower() in (".parquet", ".pq") else "csv")
    if fmt not in FORMATS:
        raise InvalidInput("format", f"csv or parquet, got {fmt!r}")
    if fmt == "csv":
        with p.open("w", encoding="utf-8", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(COLUMNS), lineterminator="\n")
            w.writeheader()
            for r in rows:
                w.writerow({c: r[c] for c in COLUMNS})
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.table({c: pa.array([r[c] for r in rows], type=pa.string()) for c in COLUMNS})
        pq.write_table(table, p)
    return p


# ----------------------------------------------------------------------------------------------------------------
# opening a book in a replay


@dataclass
class _Leg:
    sub: SubAccountBook
    pos: Position
    instr: object
    lots: int  #: signed
    parts: list[tuple[int, int]]  #: (lots > 0, lot price), the better-priced part first
    adjustment: int  #: base units added to the deposit (≥ 0)
    score: int  #: PnL at the mark − initial margin (base units)


def _legs(book: Book, engine) -> dict[str, list[_Leg]]:
    """Each sub-account's opening fills: parts on the tick grid, the deposit adjustment, the order (module docstring)."""
    out: dict[str, list[_Leg]] = {}
    for s in book.subaccounts:
        legs = []
        for p in s.positions:
            if p.size == 0:
                continue
            instr = engine.instrument(p.instrument)
            mark = engine.markets[instr.index].mark
            lots = int(p.size / instr.size_step)
            n, t = abs(lots), instr.tick_units
            e = abs(entry_units(p.size, p.entry_price, instr))
            r = e % t
            # the entry value on the grid of one tick of one lot, rounded against the account
            e_grid = (e + (t - r) % t) if lots > 0 else e - r
            adjustment = e_grid - e if lots > 0 else r
            a, rem = divmod(e_grid // t, n)  # e_grid = t × (n × a + rem): rem lots one tick above a
            low, high = (n - rem, a * t), (rem, (a + 1) * t)
            parts = [x for x in ((low, high) if lots > 0 else (high, low)) if x[0] > 0]
            pnl = lots * mark - (e_grid if lots > 0 else -e_grid)
            im, _ = engine.margin_model.position_requirements(instr, lots, mark)
            legs.append(_Leg(s, p, instr, lots, parts, adjustment, pnl - im))
        legs.sort(key=lambda g: -g.score)
        out[s.subaccount] = legs
    return out


def open_book(node, book: Book, ts: int, maker: str, *, maker_cap_usd: int) -> dict:
    """Open ``book`` in the engine of ``node`` at time ``ts`` (its markets listed and marked): the maker, then every
    sub-account, its deposits and its positions against the maker (module docstring). Returns the facts the summary
    states, refusals included."""
    e = node.engine
    legs = _legs(book, e)
    gross = sum(abs(g.lots) * e.markets[g.instr.index].mark + sum(n * px for n, px in g.parts) for gl in legs.values() for g in gl)
    total = min(int(gross * book.maker_collateral_multiple) // 10**6 + 1, maker_cap_usd)
    chunk = 50 * 10**9
    node_out = node.submit_batch([ev.OpenSubAccount(ts=ts, subaccount=maker),
                                  *(ev.Deposit(ts=ts, subaccount=maker, asset="USDC", amount=str(min(chunk, total - i)))
                                    for i in range(0, total, chunk))])
    for o in node_out:
        if o.error is not None:
            raise o.error
    events: list = []
    tags: list[tuple] = []  # (sub-account book, what, row, leg, part)
    adjustment_total = 0
    settlement = e.settlement
    for s in book.subaccounts:
        sid = s.subaccount
        events.append(ev.OpenSubAccount(ts=ts, subaccount=sid, mode=s.mode, instrument=s.instrument))
        tags.append((s, "OpenSubAccount", s.where, None, None))
        adjust = sum(g.adjustment for g in legs[sid])
        adjustment_total += adjust
        deposits = {c.asset: c for c in s.collateral}
        if adjust and settlement.symbol not in deposits:
            deposits[settlement.symbol] = Collateral(settlement.symbol, Decimal(0), s.where)
        for c in deposits.values():
            amount = c.amount + (settlement.amount(adjust) if c.asset == settlement.symbol else 0)
            if amount > 0:
                events.append(ev.Deposit(ts=ts, subaccount=sid, asset=c.asset, amount=str(amount)))
                tags.append((s, "Deposit", c.where, None, None))
        for g in legs[sid]:
            for k, (n, px) in enumerate(g.parts):
                buyer, seller = (sid, maker) if g.lots > 0 else (maker, sid)
                events.append(ev.Fill(ts=ts, instrument=g.instr.symbol, buyer=buyer, seller=seller, price=str(g.instr.price(px)),
                                      size=str(g.instr.size(n))))
                tags.append((s, "Fill", g.pos.where, g, k))
    outcomes = node.submit_batch(events)
    refused: list[dict] = []
    undo: list = []
    opened: dict[int, list[bool]] = {}
    for (s, what, where, g, k), o in zip(tags, outcomes, strict=True):
        if g is not None:
            opened.setdefault(id(g), [False] * len(g.parts))[k] = o.accepted
        if o.error is not None:
            refused.append({"subaccount": s.subaccount, "event": what, "row": where,
                            "instrument": g.instr.symbol if g is not None else None,
                            "reason": getattr(o.error, "reason", type(o.error).__name__), "message": str(o.error)})
    by_id = {id(g): g for gl in legs.values() for g in gl}
    for gid, ok in opened.items():
        if any(ok) and not all(ok):  # a split position half open: close what opened, at its own price
            g = by_id[gid]
            for (n, px), done in zip(g.parts, ok, strict=True):
                if done:
                    sid = g.sub.subaccount
                    buyer, seller = (maker, sid) if g.lots > 0 else (sid, maker)
                    undo.append(ev.Fill(ts=ts, instrument=g.instr.symbol, buyer=buyer, seller=seller, price=str(g.instr.price(px)),
                                        size=str(g.instr.size(n))))
    for o in node.submit_batch(undo):
        if o.error is not None:  # pragma: no cover - a reducing fill at its own opening price restores the account
            raise o.error
    whole = [g for g in by_id.values() if all(opened.get(id(g), [False]))]
    refused_positions = sorted({(r["subaccount"], r["instrument"]) for r in refused if r["event"] == "Fill"})
    return {
        **book.to_dict(),
        "positions_opened": len(whole),
        "positions_refused": len(refused_positions),
        "subaccounts_with_refusals": len({r["subaccount"] for r in refused}),
        "refused": refused,
        "split_fills_closed_again": len(undo),
        "entry_adjustment_usdc": adjustment_total / 10**6,
        "long_notional_usdc": sum(g.lots * e.markets[g.instr.index].mark for g in whole if g.lots > 0) / 10**6,
        "short_notional_usdc": -sum(g.lots * e.markets[g.instr.index].mark for g in whole if g.lots < 0) / 10**6,
    }


def replay_instruments(symbols: Iterable[str], listing: Iterable[ev._Event]) -> tuple[dict, dict]:
    """The instruments and assets a replay lists, from its listing events (applied to a scratch engine)."""
    from ramparts.engine.engine import Engine

    e = Engine()
    for x in listing:
        e.apply(x)
    return {sym: e.instrument(sym) for sym in symbols}, dict(e.assets)


__all__ = ["COLUMNS", "KINDS", "MODES", "RESERVED", "Book", "Collateral", "Mark", "Position", "SubAccountBook", "book_rows",
           "entry_price", "entry_units", "load_book", "open_book", "replay_instruments", "write_book"]
