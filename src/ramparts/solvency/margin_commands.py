"""The private margin-health commands: ``ramparts prove-margin`` and ``ramparts verify-margin``.

This module owns the command line of :mod:`ramparts.solvency.margin_proof` and the two plain
functions behind it, which return their exit code (easy to test and to call from other tools):

* :func:`prove_margin_command` (``prove-margin --journal URL --subaccount S --secret-file F``):
  replays the journal, builds the margin root of its state (or reuses the one journaled just
  before), journals its hash as a ``LiabilitiesRoot`` event (snapshot ``seq-<n>-margin``) and
  writes ``root.json`` and the sub-account's proof (``<sub>.json``, name as
  :func:`~ramparts.solvency.files.proof_filename`) to the output folder. Exit 0; 1 when the
  sub-account does not meet the requirement asked for (nothing is journaled); 2 on bad input
  (unknown sub-account, one out of scope, a short secret, a missing journal).
* :func:`verify_margin_command` (``verify-margin PROOF --root ROOT.json``): checks the proof offline
  against the published root; ``--root-hash`` or ``--journal`` name the journaled root hash it
  must match. Exit 0 verified, 1 rejected (with the precise reason), 2 unreadable input.
"""

from __future__ import annotations

import json
import re
import time
from enum import StrEnum
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from ramparts.cli_common import (
    console,
    fail,
    force_option,
    journal_to_read,
    out_option,
    run_folder,
    user_errors,
)
from ramparts.errors import InvalidInput
from ramparts.solvency.commands import PROOFS, _read_limited, _secret, _zk_missing


class Requirement(StrEnum):
    maintenance = "maintenance"
    initial = "initial"
    both = "both"


def _levels(requirement: str) -> tuple[str, ...]:
    return ("maintenance", "initial") if requirement == "both" else (requirement,)


def verify_margin_command(proof_path: Path, root_path: Path, *, root_hash: str | None = None,
                          journal: str | None = None, namespace: str = "ramparts",
                          console: Console | None = None) -> int:
    """Verify a margin proof against ``root.json`` (and the journaled root hash); print the verdict; 0 / 1 / 2."""
    out = console or Console()
    if (missing := _zk_missing()) is not None:
        out.print(f"[bold red]error:[/] {escape(missing)}", soft_wrap=True)
        return 2
    from ramparts.solvency.margin_proof import MAX_PROOF_BYTES, verify_margin

    if root_hash is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", root_hash.strip()):
        out.print("[bold red]error:[/] --root-hash must be 64 hex characters")
        return 2
    raw = _read_limited(proof_path, MAX_PROOF_BYTES, "a margin proof", out)
    rraw = None if raw is None else _read_limited(root_path, MAX_PROOF_BYTES, "a margin root", out)
    if raw is None or rraw is None:
        return 2
    try:
        record = json.loads(rraw)
    except ValueError as exc:
        out.print(f"[bold red]error:[/] {escape(str(root_path))} is not JSON: {escape(str(exc))}")
        return 2
    if journal:
        expected = _journaled_root(journal, namespace, record, out)
        if expected is None:
            return 1
        if root_hash is not None and root_hash.strip().lower() != expected:
            out.print(f"[bold red]REJECTED[/] {escape('[unexpected_root]')} the journal records {expected}, not --root-hash")
            return 1
        root_hash = expected
    t0 = time.perf_counter()
    res = verify_margin(raw, rraw, root_hash)  # the bytes: duplicate keys refused
    took = time.perf_counter() - t0
    if res.malformed:
        out.print(f"[bold red]malformed[/] {escape(res.reason)}")
        return 2
    if not res.ok:
        out.print(f"[bold red]REJECTED[/] {escape(f'[{res.code}]')} {escape(res.reason)}")
        return 1
    reqs = " and ".join(res.requirements)
    out.print(f"[bold green]VERIFIED[/]: sub-account {escape(res.subaccount or '')} has equity at least its {reqs} "
              f"requirement at snapshot {escape(str(res.snapshot_id))} (sequence {res.sequence})")
    out.print(f"instruments {', '.join(map(escape, res.instruments))}; {res.range_proofs} range proofs checked in "
              f"{took:.2f} s; positions, balances, tiers and the margin excess stay hidden")
    anchored = root_hash is not None
    out.print(f"root hash {res.root_hash}" + (" (matches the journaled root)" if anchored else ""))
    if not anchored:
        out.print("[dim]compare the root hash above with the one the venue journaled (--root-hash or --journal)[/]")
    return 0


def _journaled_root(journal: str, namespace: str, record: object, out: Console) -> str | None:
    """The root hash the journal records for the root record's snapshot, or ``None`` (printed why)."""
    from ramparts.engine.node import Node

    sid = record.get("snapshot_id") if isinstance(record, dict) else None
    with user_errors():
        journal_to_read(journal, "--journal")
        with Node.open(journal, namespace=namespace, create=False) as node:
            found = [r for r in node.engine.liabilities_roots if r["snapshot_id"] == sid]
    if not found:
        out.print(f"[bold red]REJECTED[/] {escape('[unexpected_root]')} the journal records no root for snapshot {escape(str(sid))}")
        return None
    return found[0]["root_hash"]


def prove_margin(
    journal: str = typer.Option(..., help="the venue's journal: prove at its current state, journal the margin root there"),
    subaccount: str = typer.Option(..., help="the sub-account (account/sub) whose margin health is proven"),
    secret_file: Path = typer.Option(..., exists=True, dir_okay=False,
                                     help="server secret (at least 16 bytes) the commitments' blindings derive from"),
    requirement: Requirement = typer.Option(Requirement.maintenance, help="which requirement equity must cover"),
    namespace: str = typer.Option("ramparts", help="journal namespace (PostgreSQL schema)"),
    out: Path = out_option("prove-margin", PROOFS),
    force: bool = force_option(),
) -> None:
    """Prove, in zero knowledge, that a sub-account's equity covers its margin requirement at the journal's state.

    Writes root.json (the public commitment, whose hash is journaled as a LiabilitiesRoot event) and
    the sub-account's proof; verify-margin checks it without learning positions or balances.
    Exit 1 when the requirement is not met (nothing journaled).
    """
    if (missing := _zk_missing()) is not None:
        fail(missing)
    from ramparts.engine.node import Node
    from ramparts.solvency.files import proof_filename
    from ramparts.solvency.margin_proof import MarginNotMet, dumps, publish_margin_root

    levels = _levels(requirement.value)

    def check(root, refused):
        if subaccount in refused:
            raise InvalidInput("subaccount", f"{subaccount} is out of the margin proof's scope: {refused[subaccount]}")
        req = root.requirements(subaccount)
        for lev in levels:
            if req["equity"] < req[lev]:
                raise MarginNotMet("subaccount", f"{subaccount}: equity {req['equity']:,} is below its {lev} requirement "
                                                 f"{req[lev]:,} (base units): no proof of {lev} margin health exists")

    with user_errors({"secret": "secret_file"}):
        journal_to_read(journal, "--journal")
        secret = _secret(secret_file)
        with Node.open(journal, namespace=namespace, create=False) as node:
            subaccount = node.engine.subs.name(node.engine.sub_index(subaccount, "subaccount"))
            with run_folder("prove-margin", proof_filename(subaccount)[:-5], out, force=force, parent=PROOFS) as out_dir:
                try:
                    pub = publish_margin_root(node, secret, check)
                except MarginNotMet as exc:
                    fail(str(exc), code=1)
                t0 = time.perf_counter()
                proof = pub.root.prove(subaccount, levels)
                proved = time.perf_counter() - t0
                text = dumps(proof)
                (out_dir / "root.json").write_text(dumps(pub.root.record()), encoding="utf-8")
                (out_dir / proof_filename(subaccount)).write_text(text, encoding="utf-8")
    root = pub.root
    verb = "journaled" if pub.journaled else "reused the journaled"
    console.print(f"{verb} margin root {root.snapshot_id} (LiabilitiesRoot at sequence {root.sequence}); "
                  f"{root.account_count:,} sub-accounts committed, {len(pub.refused):,} out of scope; "
                  f"built in {pub.build_seconds:.2f} s", soft_wrap=True, highlight=False)
    console.print(f"proved {' and '.join(levels)} margin health of {subaccount}: {len(text.encode()):,} bytes in "
                  f"{proved:.2f} s", soft_wrap=True, highlight=False)
    console.print(f"root hash {root.hash}", soft_wrap=True, highlight=False)
    console.print(f"wrote {out_dir / 'root.json'} and {out_dir / proof_filename(subaccount)}", soft_wrap=True,
                  highlight=False)


def verify_margin_cmd(
    proof: Path = typer.Argument(..., exists=True, dir_okay=False, help="a margin proof JSON file"),
    root: Path = typer.Option(..., exists=True, dir_okay=False, help="the published root.json of the margin root"),
    root_hash: str = typer.Option(None, help="the journaled root hash (64 hex) the root must have"),
    journal: str = typer.Option("", help="the venue's journal: the root must be the one journaled for its snapshot"),
    namespace: str = typer.Option("ramparts", help="journal namespace (PostgreSQL schema)"),
) -> None:
    """Verify a margin proof offline: equity covers the requirement, nothing else learned (exit 0 / 1 / 2)."""
    raise typer.Exit(verify_margin_command(proof, root, root_hash=root_hash, journal=journal or None,
                                           namespace=namespace, console=console))


def register(app: typer.Typer) -> None:
    """Add ``prove-margin`` and ``verify-margin`` to the root app."""
    app.command("prove-margin")(prove_margin)
    app.command("verify-margin")(verify_margin_cmd)


__all__ = ["prove_margin", "register", "verify_margin_cmd", "verify_margin_command"]
