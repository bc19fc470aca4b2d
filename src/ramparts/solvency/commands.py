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

The private (range-proven) tree of :mod:`ramparts.solvency.private_tree` has its own commands, in
the last section: ``prove-liabilities-private`` (CSV or ``--journal``; writes ``root.json``,
``tree.bin`` and the proofs; :func:`build_private_tree_command`), ``verify-private-proof``
(:func:`verify_private_proof_command`; ``--tree DIR`` also checks the whole published tree) and
``verify-private-tree DIR`` (:func:`verify_private_tree_command`), with the same exit codes.
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
        secret = _secret(secret_file)
        with Node.open(journal, namespace=namespace, create=False) as node:
            sid = snapshot_id or f"seq-{node.engine.seq}"
            with run_folder("prove-liabilities", sid, out, force=force, parent=PROOFS) as out_dir:
                pub = publish_liabilities(node, out_dir, salt_secret=secret, snapshot_id=sid)
    print_tree_summary(pub.tree, pub.build_seconds, console)
    _print_published(pub, out_dir, "reserves against liabilities",
                     ("net liabilities", "surplus (insurance, fees, − bad debt)"), "net_liabilities")


def _print_published(pub: Any, out_dir: Path, title: str, columns: tuple[str, str], liabilities_field: str) -> None:
    """The tail both journal-backed provers print: reserves against liabilities per asset, what was journaled and
    written; exit 1 when the reserves do not cover the liabilities."""
    table = Table(title=title)
    for col in ("asset", "reserves held", *columns):
        table.add_column(col, justify="right")
    for r in pub.attestation.rows:
        table.add_row(r.asset, f"{r.holdings:,}", f"{getattr(r, liabilities_field):,}", f"{r.surplus:,}")
    console.print(table)
    console.print(f"journaled LiabilitiesRoot for snapshot {pub.record['snapshot_id']} at sequence "
                  f"{pub.record['sequence']}; wrote {pub.proofs_written:,} proofs in {out_dir / 'proofs'}",
                  soft_wrap=True, highlight=False)
    console.print(f"root: {out_dir / 'root.json'}", soft_wrap=True, highlight=False)
    if not pub.attestation.solvent:
        raise typer.Exit(1)


# --------------------------------------------------------------------------- private (range-proven) trees
#
# ``prove-liabilities-private``, ``verify-private-proof`` and ``verify-private-tree``: the tree of
# :mod:`ramparts.solvency.private_tree`, in which every balance is a Pedersen commitment with a
# range proof and a proof reveals only its owner's balance. Exit codes as for the version-1 commands.


def _read_limited(path: Path, limit: int, what: str, out: Console) -> bytes | None:
    try:
        with Path(path).open("rb") as fh:
            raw = fh.read(limit + 1)
    except OSError as exc:
        out.print(f"[bold red]error:[/] cannot read {escape(str(path))}: {escape(exc.strerror or str(exc))}")
        return None
    if len(raw) > limit:
        out.print(f"[bold red]error:[/] {escape(str(path))} is larger than {limit:,} bytes; not {what}")
        return None
    return raw


def _zk_missing() -> str | None:
    """The message to show when the private proofs' curve library (the ``zk`` extra) is not installed."""
    try:
        import coincurve  # noqa: F401
    except ImportError:
        return "the private proofs need coincurve (libsecp256k1): pip install 'ramparts[zk]'"
    return None


#: The largest published tree file the verifier reads (about 100,000 accounts of one asset per GiB).
MAX_TREE_BYTES = 4 * 1024**3


def verify_private_proof_command(
    proof_path: Path,
    expected_root: str | None = None,
    *,
    root_file: Path | None = None,
    tree_dir: Path | None = None,
    workers: int = 1,
    console: Console | None = None,
) -> int:
    """Verify one private inclusion proof offline; print a summary; return 0 verified / 1 rejected / 2 unreadable.

    ``expected_root``: the published root hash (hex). ``root_file``: the published ``root.json``
    (checked, and the proof's root must be it). ``tree_dir``: the published folder (``root.json``
    and ``tree.bin``): the whole tree is checked first (every leaf's range proof) and the proof's
    leaf and path must be the ones in it.
    """
    out = console or Console()
    if (missing := _zk_missing()) is not None:
        out.print(f"[bold red]error:[/] {escape(missing)}")
        return 2
    from ramparts.solvency.private_proof import MAX_PROOF_BYTES, verify_private_proof, verify_private_tree

    raw = _read_limited(Path(proof_path), MAX_PROOF_BYTES, "a proof", out)
    if raw is None:
        return 2
    if expected_root is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", expected_root.strip()):
        out.print("[bold red]error:[/] the expected root must be 64 hex characters")
        return 2
    record = None
    if root_file is not None or tree_dir is not None:
        rpath = Path(root_file) if root_file is not None else Path(tree_dir) / "root.json"
        rraw = _read_limited(rpath, MAX_PROOF_BYTES, "a root record", out)
        if rraw is None:
            return 2
        try:
            record = json.loads(rraw)
        except ValueError as exc:
            out.print(f"[bold red]error:[/] {escape(str(rpath))} is not JSON: {escape(str(exc))}")
            return 2
    tree = None
    if tree_dir is not None:
        traw = _read_limited(Path(tree_dir) / "tree.bin", MAX_TREE_BYTES, "a tree file", out)
        if traw is None:
            return 2
        t0 = time.perf_counter()
        tres, tree = verify_private_tree(record, traw, workers=workers)
        if not tres.ok:
            out.print(f"[bold red]REJECTED[/] the published tree {escape(f'[{tres.code}]')} {escape(tres.reason)}")
            return 2 if tres.malformed else 1
        out.print(f"published tree: {tres.leaves_checked:,} leaves range-proven, sums to the root "
                  f"({time.perf_counter() - t0:.1f} s)")
    res = verify_private_proof(raw, expected_root, root_record=record, tree=tree)
    if res.malformed:
        out.print(f"[bold red]malformed proof[/] {escape(str(proof_path))}: {escape(res.reason)}")
        return 2
    if not res.ok:
        out.print(f"[bold red]REJECTED[/] {escape(f'[{res.code}]')} {escape(res.reason)}")
        if res.account_id is not None:
            out.print(f"  account {escape(res.account_id)}, snapshot {escape(str(res.snapshot_id))}")
        return 1
    table = Table(title=f"private proof of liabilities: {escape(res.account_id or '')}")
    table.add_column("asset")
    table.add_column("your balance (base units)", justify="right")
    table.add_column("total liabilities (opened root)", justify="right")
    for asset, v in (res.balances or {}).items():
        table.add_row(escape(asset), _amount_text(v), _amount_text((res.totals or {})[asset]))
    out.print(table)
    out.print(f"snapshot {escape(str(res.snapshot_id))} (sequence {res.sequence}), {res.account_count:,} accounts, "
              f"every balance proven in [0, 2**{res.bits})")
    matched = expected_root is not None or record is not None
    out.print(f"root hash {res.root_hash}" + (" (matches the published root)" if matched else ""))
    out.print("[bold green]VERIFIED[/]: your balance is in the tree with this root; other balances stay hidden.")
    if not matched:
        out.print("[dim]compare the root hash above with the one the venue published[/]")
    if tree is None:
        out.print("[dim]that every other leaf is range-proven is checked from the published tree: "
                  "add --tree DIR, or run verify-private-tree DIR[/]")
    return 0


def verify_private_tree_command(folder: Path, *, workers: int = 1, console: Console | None = None) -> int:
    """Check a published private tree folder (``root.json`` + ``tree.bin``); return 0 / 1 / 2."""
    out = console or Console()
    if (missing := _zk_missing()) is not None:
        out.print(f"[bold red]error:[/] {escape(missing)}")
        return 2
    from ramparts.solvency.private_proof import MAX_PROOF_BYTES, verify_private_tree

    rraw = _read_limited(Path(folder) / "root.json", MAX_PROOF_BYTES, "a root record", out)
    traw = None if rraw is None else _read_limited(Path(folder) / "tree.bin", MAX_TREE_BYTES, "a tree file", out)
    if rraw is None or traw is None:
        return 2
    t0 = time.perf_counter()
    res, _ = verify_private_tree(rraw, traw, workers=workers)
    if not res.ok:
        out.print(f"[bold red]{'MALFORMED' if res.malformed else 'REJECTED'}[/] {escape(f'[{res.code}]')} "
                  f"{escape(res.reason)}")
        return 2 if res.malformed else 1
    table = Table(title=f"private tree: snapshot {escape(str(res.snapshot_id))} (sequence {res.sequence})")
    table.add_column("asset")
    table.add_column("total liabilities (opened root)", justify="right")
    for asset, v in (res.totals or {}).items():
        table.add_row(escape(asset), _amount_text(v))
    out.print(table)
    out.print(f"{res.leaves_checked:,} leaves, each balance range-proven in [0, 2**{res.bits}); "
              f"checked in {time.perf_counter() - t0:.1f} s")
    out.print(f"root hash {res.root_hash}")
    out.print("[bold green]VERIFIED[/]: every node is a sum of range-proven leaves; the root opens to the totals.")
    return 0


def build_private_tree_command(
    input_csv: Path,
    out_dir: Path,
    *,
    snapshot_id: str | None = None,
    sequence: int = 0,
    bits: int = 64,
    secret_file: Path | None = None,
    workers: int = 1,
    console: Console | None = None,
) -> int:
    """Build the private tree from a balances CSV and write the published folder; return 0 or 2.

    Negative CSV amounts are deficits, owed to the venue: they count 0 in the tree (never netted),
    and the command says how many there were.
    """
    out = console or Console()
    if (missing := _zk_missing()) is not None:
        out.print(f"[bold red]error:[/] {escape(missing)}")
        return 2
    try:
        _build_private(Path(input_csv), Path(out_dir), snapshot_id, sequence, bits, secret_file, workers, out)
    except RampartsError as exc:
        out.print(f"[bold red]error:[/] {escape(str(exc))}")
        return 2
    except OSError as exc:
        out.print(f"[bold red]error:[/] {escape(exc.strerror or str(exc))}")
        return 2
    return 0


def _secret(path: Path | None) -> bytes | None:
    """The server secret in ``path`` (surrounding whitespace stripped), at least 16 bytes; None without a path."""
    if path is None:
        return None
    secret = Path(path).read_bytes().strip()
    if len(secret) < 16:
        raise InvalidInput("secret_file", "the secret must hold at least 16 bytes")
    return secret


def _build_private(input_csv: Path, out_dir: Path, snapshot_id: str | None, sequence: int, bits: int,
                   secret_file: Path | None, workers: int, out: Console) -> None:
    from ramparts.solvency.private_tree import (
        build_private_tree,
        liabilities_from_equities,
        write_private_tree,
    )

    secret = _secret(secret_file)
    rows, assets = read_balances_csv(input_csv)
    owed, deficits = liabilities_from_equities(rows)
    t0 = time.perf_counter()
    tree = build_private_tree(owed, assets, snapshot_id=snapshot_id or input_csv.stem, sequence=sequence, bits=bits,
                              secret=secret, workers=workers)
    built = time.perf_counter() - t0
    written = write_private_tree(tree, out_dir)
    print_private_summary(tree, deficits, built, out)
    out.print(f"wrote {escape(str(out_dir / 'root.json'))}, {escape(str(out_dir / 'tree.bin'))} and "
              f"{len(written):,} proof(s) in {escape(str(out_dir / 'proofs'))}", soft_wrap=True, highlight=False)


def print_private_summary(tree: Any, deficits: dict[str, tuple[int, int]], built_s: float, out: Console) -> None:
    """Print the opened totals, the deficits left out, size, build time and root hash of a private tree."""
    table = Table(title=f"private proof of liabilities: snapshot {escape(tree.snapshot_id)} (sequence {tree.sequence})")
    table.add_column("asset")
    table.add_column("total liabilities (opened root)", justify="right")
    table.add_column("deficits not netted (accounts, base units)", justify="right")
    for a in tree.assets:
        c, d = deficits.get(a, (0, 0))
        table.add_row(escape(a), _amount_text(tree.totals[a]), f"{c:,}: {_amount_text(d)}")
    out.print(table)
    out.print(f"{tree.account_count:,} accounts, depth {tree.depth}, every balance range-proven in "
              f"[0, 2**{tree.bits}), built in {built_s:.2f} s")
    out.print(f"root hash [bold]{tree.root_hash}[/]")


def prove_liabilities_private(
    balances: Path = typer.Argument(None, exists=True, dir_okay=False,
                                    help="CSV of account_id,asset,amount_units (or use --journal)"),
    journal: str = typer.Option("", help="an existing journal: build from its engine state, journal the root there"),
    secret_file: Path = typer.Option(None, exists=True, dir_okay=False,
                                     help="server secret (at least 16 bytes) the salts and blindings derive from"),
    snapshot_id: str = typer.Option(None, help="snapshot name bound into the root (default: CSV name or seq-<n>-private)"),
    bits: int = typer.Option(64, min=1, max=128, help="every balance is proven to lie in [0, 2**bits) base units"),
    workers: int = typer.Option(1, min=1, max=64, help="processes proving the range proofs"),
    namespace: str = typer.Option("ramparts", help="journal namespace (PostgreSQL schema)"),
    out: Path = out_option("prove-liabilities-private", PROOFS),
    force: bool = force_option(),
) -> None:
    """Build a private proof of liabilities: Pedersen commitments, range proofs, a Merkle tree of summed commitments.

    Writes root.json (the root hash and the opened totals), tree.bin (every leaf's commitment and
    range proof, no balance) and one proof per account. Negative equities are deficits, counted 0.
    With --journal, the root is journaled as a LiabilitiesRoot event that the engine checks against
    its ledger, and the reserves are compared with the totals.
    """
    if balances is not None and journal:
        fail("give either a balances CSV or --journal, not both")
    if balances is None and not journal:
        fail("give a balances CSV or --journal URL")
    if journal and secret_file is None:
        fail("--journal needs --secret-file: the blindings must be reproducible to re-issue proofs")
    if (missing := _zk_missing()) is not None:
        fail(missing)
    if balances is not None:
        label = snapshot_id or balances.stem
        with user_errors({"secret": "secret_file"}), run_folder("prove-liabilities-private", label, out, force=force,
                                                                parent=PROOFS) as out_dir:
            _build_private(balances, out_dir, snapshot_id, 0, bits, secret_file, workers, console)
        return
    from ramparts.engine.node import Node
    from ramparts.solvency.private_tree import publish_private_liabilities

    with user_errors({"secret": "secret_file"}):
        journal_to_read(journal, "--journal")
        secret = _secret(secret_file)
        with Node.open(journal, namespace=namespace, create=False) as node:
            sid = snapshot_id or f"seq-{node.engine.seq}-private"
            with run_folder("prove-liabilities-private", sid, out, force=force, parent=PROOFS) as out_dir:
                pub = publish_private_liabilities(node, out_dir, secret=secret, snapshot_id=sid, bits=bits,
                                                  workers=workers)
    print_private_summary(pub.tree, pub.deficits, pub.build_seconds, console)
    _print_published(pub, out_dir, "reserves against liabilities (no deficit credited)", ("liabilities", "surplus"),
                     "liabilities_counted")


def verify_private_proof_cmd(
    proof: Path = typer.Argument(..., exists=True, dir_okay=False, help="a private inclusion proof JSON file"),
    root: str = typer.Option(None, help="the root hash the venue published (64 hex); the proof must lead to it"),
    root_file: Path = typer.Option(None, exists=True, dir_okay=False,
                                   help="the venue's published root.json; the proof's root must be it"),
    tree: Path = typer.Option(None, exists=True, file_okay=False,
                              help="the published folder (root.json, tree.bin): check every leaf, and that "
                                   "this proof's path is in it"),
    workers: int = typer.Option(1, min=1, max=64, help="processes checking the tree's range proofs (with --tree)"),
) -> None:
    """Verify a private (range-proven) proof of liabilities offline (exit 0 verified, 1 rejected, 2 unreadable)."""
    if root_file is not None and tree is not None:
        fail("give --root-file or --tree (which holds root.json), not both")
    raise typer.Exit(verify_private_proof_command(proof, root, root_file=root_file, tree_dir=tree, workers=workers,
                                                  console=console))


def verify_private_tree_cmd(
    folder: Path = typer.Argument(..., exists=True, file_okay=False,
                                  help="the published folder holding root.json and tree.bin"),
    workers: int = typer.Option(1, min=1, max=64, help="processes checking the range proofs"),
) -> None:
    """Check a published private tree: every leaf's range proof, every node sum, the root (exit 0 / 1 / 2)."""
    raise typer.Exit(verify_private_tree_command(folder, workers=workers, console=console))


def register(app: typer.Typer) -> None:
    """Add the proof-of-liabilities commands to the root app."""
    app.command("verify-proof")(verify_proof_cmd)
    app.command("prove-liabilities")(prove_liabilities)
    app.command("prove-liabilities-private")(prove_liabilities_private)
    app.command("verify-private-proof")(verify_private_proof_cmd)
    app.command("verify-private-tree")(verify_private_tree_cmd)
    from ramparts.solvency import margin_commands  # prove-margin, verify-margin (private margin health)

    margin_commands.register(app)


__all__ = ["build_private_tree_command", "build_tree_command", "print_private_summary", "print_tree_summary",
           "prove_liabilities", "prove_liabilities_private", "register", "verify_private_proof_cmd",
           "verify_private_proof_command", "verify_private_tree_cmd", "verify_private_tree_command",
           "verify_proof_cmd", "verify_proof_command"]
