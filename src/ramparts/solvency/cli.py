"""Command-line entry points of the proof-of-liabilities feature (plain functions, no typer app).

This module owns two functions that the ``ramparts`` CLI wires in as commands:

* :func:`verify_proof_command` (``ramparts verify-proof PROOF.json``): verifies one inclusion
  proof offline and prints a rich summary. Exit code **0** verified, **1** the proof is false
  (with the precise reason), **2** the file cannot be read or is not a version-1 proof. Never a
  traceback.
* :func:`build_tree_command` (``ramparts prove-liabilities BALANCES.csv --out DIR``): reads a CSV
  of ``account_id,asset,amount_units`` rows, builds the Merkle sum tree and writes
  ``DIR/root.json`` (the record to publish) and ``DIR/proofs/<name>.json`` (one proof per account,
  or for a selected subset). Exit code 0, or 2 on bad input with one clear line naming the
  problem (and the CSV line number).

Both return the exit code instead of exiting, so they are easy to test and to wire.

CSV input: UTF-8 (a BOM is tolerated), a header row ``account_id,asset,amount_units``, then one
row per (account, asset) with the signed equity in integer base units (``-1500``, ``+20``, ``0``;
surrounding whitespace is ignored, decimals are refused). Blank lines are skipped; a repeated
(account, asset) pair is an error (pre-aggregate sub-accounts). Accounts keep their first
appearance order before the optional shuffle.

Proof file names: ``<account_id>.json`` when the id matches ``[A-Za-z0-9][A-Za-z0-9._-]{0,99}``;
``<account>+<sub>.json`` for a sub-account id ``account/sub`` of two such names; otherwise ``_<first 32 hex of SHA-256(utf8(account_id))>.json`` (the leading underscore cannot
start a plain name, so the two forms never collide). See :func:`proof_filename`.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ramparts.errors import InvalidInput, RampartsError, UnknownEntity
from ramparts.solvency.proof import MAX_PROOF_BYTES, verify_proof, verify_root_record

CSV_HEADER = ("account_id", "asset", "amount_units")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_INT_RE = re.compile(r"^[+-]?[0-9]+$")
#: Largest CSV amount accepted, in digits (beyond that no sum fits u128 anyway).
_MAX_DIGITS = 40


def proof_filename(account_id: str) -> str:
    """The file name of an account's proof inside ``proofs/`` (see the module docstring)."""
    if _SAFE_NAME.match(account_id):
        return f"{account_id}.json"
    if account_id.count("/") == 1 and all(_SAFE_NAME.match(p) for p in account_id.split("/")):
        return account_id.replace("/", "+") + ".json"  # a sub-account; '+' is in no plain name
    return "_" + hashlib.sha256(account_id.encode("utf-8")).hexdigest()[:32] + ".json"


def _amount_text(units: int) -> str:
    return f"{units:,}"


# --------------------------------------------------------------------------- verify


def verify_proof_command(
    proof_path: Path, expected_root: str | None = None, *, console: Console | None = None
) -> int:
    """Verify the inclusion proof in ``proof_path``; print a summary; return 0 / 1 / 2.

    ``expected_root`` is the root hash the venue published (hex); when given, a proof leading to
    any other root is rejected (exit 1). Exit 2 means the file is missing, unreadable, too large,
    not JSON, or not a version-1 proof.
    """
    out = console or Console()
    path = Path(proof_path)
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_PROOF_BYTES + 1)
    except OSError as exc:
        out.print(f"[bold red]error:[/] cannot read {escape(str(path))}: {escape(exc.strerror or str(exc))}")
        return 2
    if len(raw) > MAX_PROOF_BYTES:
        out.print(
            f"[bold red]error:[/] {escape(str(path))} is larger than {MAX_PROOF_BYTES:,} bytes; not a proof"
        )
        return 2
    if expected_root is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", expected_root.strip()):
        out.print("[bold red]error:[/] the expected root must be 64 hex characters")
        return 2
    res = verify_proof(raw, expected_root=expected_root)
    if res.malformed:
        out.print(f"[bold red]malformed proof[/] {escape(str(path))}: {escape(res.reason)}")
        return 2
    if not res.ok:
        out.print(f"[bold red]REJECTED[/] {escape(f'[{res.code}]')} {escape(res.reason)}")
        if res.account_id is not None:
            out.print(f"  account {escape(res.account_id)}, snapshot {escape(str(res.snapshot_id))}")
        return 1
    table = Table(title=f"proof of liabilities: {escape(res.account_id or '')}", show_header=True)
    table.add_column("asset")
    table.add_column("your equity (base units)", justify="right")
    table.add_column("tree assets", justify="right")
    table.add_column("tree liabilities", justify="right")
    table.add_column("tree net", justify="right")
    for asset, eq in (res.balances or {}).items():
        t = (res.totals or {})[asset]
        table.add_row(
            escape(asset),
            _amount_text(eq),
            _amount_text(t.assets),
            _amount_text(t.liabilities),
            _amount_text(t.net),
        )
    out.print(table)
    out.print(
        f"snapshot {escape(str(res.snapshot_id))} (sequence {res.sequence}), {res.account_count:,} accounts"
    )
    out.print(f"root hash {res.root_hash}" + (" (matches the published root)" if expected_root else ""))
    out.print("[bold green]VERIFIED[/]: your balances are included in the tree with this root.")
    if expected_root is None:
        out.print("[dim]compare the root hash above with the one the venue published[/]")
    return 0


# --------------------------------------------------------------------------- build


def read_balances_csv(
    input_csv: Path, assets: Sequence[str] | None = None
) -> tuple[list[tuple[str, dict[str, int]]], list[str]]:
    """Parse the balances CSV into ``[(account_id, {asset: units})]`` and the asset list.

    The asset list is ``assets`` when given (a CSV asset outside it is an error), else the distinct
    CSV assets sorted. Raises :class:`~ramparts.errors.InvalidInput` naming the line on bad input.
    """
    path = Path(input_csv)
    accounts: dict[str, dict[str, int]] = {}
    first_line: dict[tuple[str, str], int] = {}
    allowed = None if assets is None else set(assets)
    try:
        with path.open("r", encoding="utf-8-sig", newline="") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            if header is None or tuple(h.strip().lower() for h in header) != CSV_HEADER:
                raise InvalidInput(
                    f"{path.name}:1", f"the header must be {','.join(CSV_HEADER)}, got {header!r}"
                )
            for row in reader:
                line = reader.line_num
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) != 3:
                    raise InvalidInput(f"{path.name}:{line}", f"expected 3 fields, got {len(row)}")
                aid, asset, amount = (c.strip() for c in row)
                if not aid:
                    raise InvalidInput(f"{path.name}:{line}", "account_id is empty")
                if not asset:
                    raise InvalidInput(f"{path.name}:{line}", "asset is empty")
                if not _INT_RE.match(amount) or len(amount.lstrip("+-")) > _MAX_DIGITS:
                    raise InvalidInput(
                        f"{path.name}:{line}",
                        f"amount_units must be an integer number of base units, got {amount[:60]!r}",
                    )
                if allowed is not None and asset not in allowed:
                    raise UnknownEntity(
                        f"{path.name}:{line}",
                        f"asset {asset!r} is not in the asset list {list(assets or [])}",
                    )
                key = (aid, asset)
                if key in first_line:
                    raise InvalidInput(
                        f"{path.name}:{line}",
                        f"duplicate row for account {aid!r} asset {asset!r} (first on line {first_line[key]})",
                    )
                first_line[key] = line
                accounts.setdefault(aid, {})[asset] = int(amount)
    except UnicodeDecodeError:
        raise InvalidInput(path.name, "not a UTF-8 text file") from None
    except csv.Error as exc:
        raise InvalidInput(path.name, f"not a valid CSV file: {exc}") from None
    if not accounts:
        raise InvalidInput(path.name, "no account rows")
    asset_list = list(assets) if assets is not None else sorted({a for _, a in first_line})
    return list(accounts.items()), asset_list


def build_tree_command(
    input_csv: Path,
    out_dir: Path,
    *,
    snapshot_id: str | None = None,
    sequence: int = 0,
    assets: Sequence[str] | None = None,
    accounts: Iterable[str] | None = None,
    salt_secret_file: Path | None = None,
    shuffle: bool = True,
    console: Console | None = None,
) -> int:
    """Build the tree from ``input_csv`` and write ``out_dir/root.json`` and the proofs; return 0 or 2.

    * ``snapshot_id`` defaults to the CSV file name without extension; ``sequence`` is the
      snapshot's sequence number (e.g. the journal sequence), both bound into the root hash;
    * ``assets`` fixes the asset order (default: the CSV's assets, sorted);
    * ``accounts`` selects the accounts whose proofs are written (default: all); an unknown id is
      an error and nothing is written;
    * ``salt_secret_file`` holds the server secret (surrounding whitespace stripped, at least 16
      bytes) from which salts are derived with HMAC, making the tree reproducible; without it salts
      are random and the proofs are the only record of them;
    * ``shuffle`` puts the leaves in salt order (see :func:`~ramparts.solvency.merkle_sum.build_tree`).
    """
    out = console or Console()
    try:
        return _build_tree_command(
            Path(input_csv),
            Path(out_dir),
            snapshot_id,
            sequence,
            assets,
            accounts,
            salt_secret_file,
            shuffle,
            out,
        )
    except RampartsError as exc:
        out.print(f"[bold red]error:[/] {escape(str(exc))}")
        return 2
    except OSError as exc:
        where = f" {exc.filename}" if exc.filename else ""
        out.print(
            f"[bold red]error:[/] cannot access{escape(str(where))}: {escape(exc.strerror or str(exc))}"
        )
        return 2


def _build_tree_command(
    input_csv: Path,
    out_dir: Path,
    snapshot_id: str | None,
    sequence: int,
    assets: Sequence[str] | None,
    accounts: Iterable[str] | None,
    salt_secret_file: Path | None,
    shuffle: bool,
    out: Console,
) -> int:
    from ramparts.solvency.merkle_sum import build_tree

    secret = None
    if salt_secret_file is not None:
        secret = Path(salt_secret_file).read_bytes().strip()
        if len(secret) < 16:
            raise InvalidInput("salt_secret_file", "the secret must hold at least 16 bytes")
    rows, asset_list = read_balances_csv(input_csv, assets)
    t0 = time.perf_counter()
    tree = build_tree(
        rows,
        asset_list,
        snapshot_id=input_csv.stem if snapshot_id is None else snapshot_id,
        sequence=sequence,
        salt_secret=secret,
        shuffle=shuffle,
    )
    built = time.perf_counter() - t0
    selected = write_tree(tree, out_dir, accounts)
    proofs_dir = out_dir / "proofs"
    print_tree_summary(tree, built, out)
    out.print(
        f"wrote {escape(str(out_dir / 'root.json'))} and {len(selected):,} proof(s) in {escape(str(proofs_dir))}"
    )
    return 0


def write_tree(tree: Any, out_dir: Path, accounts: Iterable[str] | None = None) -> list[str]:
    """Write ``out_dir/root.json`` and ``out_dir/proofs/<name>.json`` for ``accounts`` (default all).

    An unknown account id raises :class:`~ramparts.errors.UnknownEntity` before anything is
    written. Returns the account ids whose proofs were written.
    """
    selected = list(tree.account_ids) if accounts is None else list(dict.fromkeys(accounts))
    for aid in selected:
        tree.index_of(aid)  # UnknownEntity before anything is written
    proofs_dir = out_dir / "proofs"
    proofs_dir.mkdir(parents=True, exist_ok=True)
    root = tree.root_record()
    check = verify_root_record(root)
    if not check.ok:  # pragma: no cover - an internal inconsistency, never expected
        raise InvalidInput("root", check.reason)
    _write_json(out_dir / "root.json", root)
    for aid in selected:
        _write_json(proofs_dir / proof_filename(aid), tree.proof(aid))
    return selected


def print_tree_summary(tree: Any, built_s: float, out: Console) -> None:
    """Print the per-asset totals, size, build time and root hash of a tree."""
    table = Table(
        title=f"proof of liabilities: snapshot {escape(tree.snapshot_id)} (sequence {tree.sequence})"
    )
    table.add_column("asset")
    table.add_column("assets (base units)", justify="right")
    table.add_column("liabilities", justify="right")
    table.add_column("net", justify="right")
    for asset, t in tree.totals.items():
        table.add_row(escape(asset), _amount_text(t.assets), _amount_text(t.liabilities), _amount_text(t.net))
    out.print(table)
    out.print(f"{tree.account_count:,} accounts, depth {tree.depth}, built in {built_s:.2f} s")
    out.print(f"root hash [bold]{tree.root_hash}[/]")


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(path)
