"""The proof-of-liabilities commands: ``ramparts verify-proof PROOF.json`` and ``ramparts prove-liabilities``.

This module owns the command line of :mod:`ramparts.solvency`, and the two plain functions behind
it, which return their exit code instead of exiting (easy to test and to call from other tools):

* :func:`verify_proof_command` (``verify-proof``): verifies one inclusion proof offline and prints
  a summary. Exit code 0 verified, 1 the proof is false (with the precise reason), 2 the file
  cannot be read or is not a version-1 proof. Never a traceback.
* :func:`build_tree_command` (``prove-liabilities BALANCES.csv``): reads a balances CSV, builds the
  Merkle sum tree and writes the root and the proofs (formats: :mod:`ramparts.solvency.files`).
  Exit code 0, or 2 on bad input with one clear line naming the problem (and the CSV line).

``prove-liabilities --journal URL`` builds the tree from the engine state of an existing journal
(a missing journal is refused, never created) and journals its root there. Both forms write to a
new folder ``proofs/<snapshot>-<UTC time>`` unless ``--out DIR`` names one (new or empty, or
``--force``): proofs published from an earlier snapshot are never mixed with, or overwritten by,
a later one.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ramparts.cli_common import (
    console,
    fail,
    force_option,
    journal_to_read,
    out_option,
    run_folder,
    user_errors,
)
from ramparts.errors import InvalidInput, RampartsError
from ramparts.solvency.files import read_balances_csv, write_tree
from ramparts.solvency.proof import MAX_PROOF_BYTES, verify_proof

#: Where proofs go by default: ``proofs/<snapshot>-<UTC time>``.
PROOFS = Path("proofs")

#: Library field names that are not the name of the command-line parameter showing them.
FIELDS = {"salt_secret_file": "secret_file"}


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


def verify_proof_cmd(
    proof: Path = typer.Argument(..., exists=True, dir_okay=False, help="an inclusion proof JSON file"),
    root: str = typer.Option(None, help="the root hash the venue published (64 hex); the proof must lead to it"),
    root_file: Path = typer.Option(None, exists=True, dir_okay=False,
                                   help="the venue's published root.json; its hash is the expected root"),
) -> None:
    """Verify a Merkle-sum-tree proof of liabilities offline (exit 0 verified, 1 rejected, 2 unreadable)."""
    if root is not None and root_file is not None:
        fail("give --root or --root-file, not both")
    if root_file is not None:
        try:
            root = json.loads(root_file.read_text(encoding="utf-8"))["hash"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            fail(f"--root-file: cannot read the root hash from {root_file}: {exc}")
    raise typer.Exit(verify_proof_command(proof, expected_root=root, console=console))


def prove_liabilities(
    balances: Path = typer.Argument(None, exists=True, dir_okay=False,
                                    help="CSV of account_id,asset,amount_units (or use --journal)"),
    journal: str = typer.Option("", help="an existing journal: build from its engine state, journal the root there"),
    secret_file: Path = typer.Option(None, exists=True, dir_okay=False,
                                     help="server secret (at least 16 bytes) the per-account salts derive from"),
    snapshot_id: str = typer.Option(None, help="snapshot name bound into the root (default: CSV name or seq-<n>)"),
    namespace: str = typer.Option("ramparts", help="journal namespace (PostgreSQL schema)"),
    out: Path = out_option("prove-liabilities", PROOFS),
    force: bool = force_option(),
) -> None:
    """Build a Merkle sum tree over account equities and write the root and every inclusion proof.

    From a balances CSV, or with --journal from the engine's own state: then the root (hash and
    totals) is journaled as a LiabilitiesRoot event, which the engine accepts only if the totals
    equal its ledger, and the reserves attestation is printed.
    """
    if balances is not None and journal:
        fail("give either a balances CSV or --journal, not both")
    if balances is None and not journal:
        fail("give a balances CSV or --journal URL")
    if journal and secret_file is None:
        fail("--journal needs --secret-file: the salts must be reproducible to re-issue proofs")
    if balances is not None:
        label = snapshot_id or balances.stem
        with user_errors(FIELDS), run_folder("prove-liabilities", label, out, force=force, parent=PROOFS) as out_dir:
            _build_tree_command(balances, out_dir, snapshot_id, 0, None, None, secret_file, True, console)
        return
    from ramparts.engine.node import Node
    from ramparts.solvency.engine_snapshot import publish_liabilities

    with user_errors(FIELDS):
        journal_to_read(journal, "--journal")
        secret = secret_file.read_bytes().strip()
        if len(secret) < 16:
            raise InvalidInput("secret_file", "the secret must hold at least 16 bytes")
        with Node.open(journal, namespace=namespace, create=False) as node:
            sid = snapshot_id or f"seq-{node.engine.seq}"
            with run_folder("prove-liabilities", sid, out, force=force, parent=PROOFS) as out_dir:
                pub = publish_liabilities(node, out_dir, salt_secret=secret, snapshot_id=sid)
    print_tree_summary(pub.tree, pub.build_seconds, console)
    table = Table(title="reserves against liabilities")
    for col in ("asset", "reserves held", "net liabilities", "surplus (insurance, fees, − bad debt)"):
        table.add_column(col, justify="right")
    for r in pub.attestation.rows:
        table.add_row(r.asset, f"{r.holdings:,}", f"{r.net_liabilities:,}", f"{r.surplus:,}")
    console.print(table)
    console.print(f"journaled LiabilitiesRoot for snapshot {pub.record['snapshot_id']} at sequence "
                  f"{pub.record['sequence']}; wrote {pub.proofs_written:,} proofs in {out_dir / 'proofs'}",
                  soft_wrap=True, highlight=False)
    console.print(f"root: {out_dir / 'root.json'}", soft_wrap=True, highlight=False)
    if not pub.attestation.solvent:
        raise typer.Exit(1)


def register(app: typer.Typer) -> None:
    """Add the proof-of-liabilities commands to the root app."""
    app.command("verify-proof")(verify_proof_cmd)
    app.command("prove-liabilities")(prove_liabilities)


__all__ = ["build_tree_command", "print_tree_summary", "prove_liabilities", "register", "verify_proof_cmd",
           "verify_proof_command"]
