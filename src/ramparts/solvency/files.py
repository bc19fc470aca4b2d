"""The proof-of-liabilities files on disk: the balances CSV a tree is built from; the published root and proofs.

This module owns the formats, not the commands that use them (:mod:`ramparts.solvency.commands`)
nor the tree (:mod:`ramparts.solvency.merkle_sum`):

* :func:`read_balances_csv`: the input. UTF-8 (a BOM is tolerated), a header row
  ``account_id,asset,amount_units``, then one row per (account, asset) with the signed equity in
  integer base units (``-1500``, ``+20``, ``0``; surrounding whitespace is ignored, decimals are
  refused). Blank lines are skipped; a repeated (account, asset) pair is an error (pre-aggregate
  sub-accounts). Accounts keep their first appearance order before the optional shuffle.
* :func:`write_tree`: the output, ``DIR/root.json`` (the record to publish) and
  ``DIR/proofs/<name>.json`` (one inclusion proof per account).
* :func:`proof_filename`: a proof's file name. ``<account_id>.json`` when the id matches
  ``[A-Za-z0-9][A-Za-z0-9._-]{0,99}``; ``<account>+<sub>.json`` for a sub-account id
  ``account/sub`` of two such names; otherwise ``_<first 32 hex of SHA-256(utf8(account_id))>.json``
  (the leading underscore cannot start a plain name, so the forms never collide).
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from ramparts.errors import InvalidInput, UnknownEntity
from ramparts.solvency.proof import verify_root_record

CSV_HEADER = ("account_id", "asset", "amount_units")
_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}\Z")  # \Z: "$" would let a trailing newline through
_INT_RE = re.compile(r"[+-]?[0-9]+\Z")
#: Largest CSV amount accepted, in digits (beyond that no sum fits u128 anyway).
_MAX_DIGITS = 40


def proof_filename(account_id: str) -> str:
    """The file name of an account's proof inside ``proofs/`` (see the module docstring)."""
    if _SAFE_NAME.match(account_id):
        return f"{account_id}.json"
    if account_id.count("/") == 1 and all(_SAFE_NAME.match(p) for p in account_id.split("/")):
        return account_id.replace("/", "+") + ".json"  # a sub-account; '+' is in no plain name
    return "_" + hashlib.sha256(account_id.encode("utf-8")).hexdigest()[:32] + ".json"


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


def write_tree(tree: Any, out_dir: Path, accounts: Iterable[str] | None = None, *,
               verify_root: Callable[[dict[str, Any]], Any] | None = None,
               dumps: Callable[[Any], str] | None = None,
               extra: dict[str, Callable[[], bytes]] | None = None) -> list[str]:
    """Write ``out_dir/root.json``, ``out_dir/proofs/<name>.json`` for ``accounts`` (default all) and any ``extra``
    files (name → bytes), each written whole or not at all (a temporary file renamed).

    One writer for both proof formats: the version-1 tree (defaults: :func:`verify_root_record`, indented JSON) and
    the private tree (:func:`ramparts.solvency.private_tree.write_private_tree` passes its own root check, its
    canonical ``dumps`` and ``tree.bin``). An unknown account id raises :class:`~ramparts.errors.UnknownEntity`
    before anything is written; so does a root the format's own verifier refuses. Returns the account ids whose
    proofs were written.
    """
    verify_root = verify_root or verify_root_record
    dumps = dumps or _json_text
    selected = list(tree.account_ids) if accounts is None else list(dict.fromkeys(accounts))
    for aid in selected:
        tree.index_of(aid)  # UnknownEntity before anything is written
    out_dir = Path(out_dir)
    proofs_dir = out_dir / "proofs"
    proofs_dir.mkdir(parents=True, exist_ok=True)
    root = tree.root_record()
    check = verify_root(root)
    if not check.ok:  # pragma: no cover - an internal inconsistency, never expected
        raise InvalidInput("root", check.reason)
    _write(out_dir / "root.json", dumps(root).encode("utf-8"))
    for name, data in (extra or {}).items():
        _write(out_dir / name, data())
    for aid in selected:
        _write(proofs_dir / proof_filename(aid), dumps(tree.proof(aid)).encode("utf-8"))
    return selected


def _json_text(obj: Any) -> str:
    return json.dumps(obj, indent=1, ensure_ascii=False) + "\n"


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


__all__ = ["CSV_HEADER", "proof_filename", "read_balances_csv", "write_tree"]
