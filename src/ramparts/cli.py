"""The ``ramparts`` command line (typer + rich).

Every user mistake (a bad file, a bad value, an unknown name) is reported as one clear line and a
non-zero exit code, never a traceback.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ramparts.errors import RampartsError

app = typer.Typer(add_completion=False, no_args_is_help=True, help="ramparts: a layered margin and liquidation engine.")
console = Console()


def _fail(exc: Exception, code: int = 2) -> None:
    console.print(f"[bold red]error:[/] {exc}")
    raise typer.Exit(code)


def _usdc(units: int) -> str:
    return f"{units / 1e6:,.2f}"


@app.command()
def demo(
    accounts: int = typer.Option(200, help="number of traders in the population"),
    steps: int = typer.Option(240, help="one-minute oracle ticks in the crash"),
    depth: float = typer.Option(0.45, help="depth of the crash (0.45 = −45 %)"),
    seed: int = typer.Option(7, help="random seed"),
    journal: str = typer.Option("", help="journal URL (default: a temporary SQLite file)"),
) -> None:
    """Run a seeded population through a synthetic crash, journaled, and verify the replay."""
    from ramparts.lab.demo import run_demo

    try:
        with tempfile.TemporaryDirectory() as tmp:
            url = journal or str(Path(tmp) / "demo.sqlite")
            with Progress(TextColumn("[bold]crash"), BarColumn(), TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(), console=console) as bar:
                task = bar.add_task("crash", total=steps)
                res = run_demo(url, accounts=accounts, steps=steps, depth=depth, seed=seed, progress=lambda k, n: bar.update(task, completed=k))
    except RampartsError as exc:
        _fail(exc)
    table = Table(title=f"ramparts demo: {accounts} traders, crash to {res.low} (−{depth:.0%})")
    table.add_column("layer")
    table.add_column("figure", justify="right")
    rows = [
        ("events journaled", f"{res.events:,}"),
        ("events rejected (initial margin etc.)", f"{res.rejected:,}"),
        ("margin calls", f"{res.margin_calls:,}"),
        ("liquidation steps", f"{res.liquidation_steps:,}"),
        ("liquidated notional (USDC)", _usdc(res.liquidated_notional)),
        ("insurance fund: start → end (USDC)", f"{_usdc(res.fund_start)} → {_usdc(res.fund_end)}"),
        ("insurance fund draws", f"{res.insurance_draws} ({_usdc(res.insurance_drawn)} USDC)"),
        ("auto-deleveraging fills", f"{res.deleverages:,}"),
        ("socialised loss (USDC)", _usdc(res.socialised)),
        ("unrecovered bad debt (USDC)", _usdc(res.bad_debt)),
        ("value conserved", "yes" if res.conserved else "NO"),
        ("state hash", res.state_hash[:16]),
        ("replayed journal hash", res.replay_hash[:16] + (" (identical)" if res.replay_hash == res.state_hash else " (DIFFERENT)")),
    ]
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)
    if not res.conserved or res.replay_hash != res.state_hash:
        raise typer.Exit(1)


@app.command()
def replay(
    event: str = typer.Argument(..., help="a built-in crash window (black-thursday-2020, china-ban-2021, ftx-2022, yen-carry-2024, tariff-cascade-2025) or a candle file"),
    accounts: int = typer.Option(2000, help="traders in the population"),
    seed: int = typer.Option(1, help="population seed"),
    intrabar: str = typer.Option("worst_long", help="intra-bar path: worst_long (open→low→high→close), worst_short, olhc, ohlc, close"),
    source_id: str = typer.Option("", help="series to replay from a multi-series file (default: the event's)"),
    depth: float = typer.Option(50_000_000.0, help="book depth (USDC) of the square-root impact model"),
    gaps: str = typer.Option("error", help="gap policy: error, forward_fill or skip"),
    out: Path = typer.Option(None, help="output directory (default reports/<event>)"),
    journal: str = typer.Option("", help="journal URL (default: <out>/journal.sqlite)"),
) -> None:
    """Replay a real crash through the engine with a seeded population; write HTML, JSON and Parquet."""
    from ramparts.lab.history import intrabar_path, resolve_event
    from ramparts.lab.liquidity import LiquidityModel
    from ramparts.lab.population import PopulationSpec
    from ramparts.lab.replay import run_replay
    from ramparts.lab.report import write_report

    try:
        ev_ = resolve_event(event)
        candles = ev_.load(gaps=gaps, **({"source_id": source_id} if source_id else {}))
        path = intrabar_path(candles, intrabar)
        out_dir = out or Path("reports") / ev_.name
        out_dir.mkdir(parents=True, exist_ok=True)
        url = journal or str(out_dir / "journal.sqlite")
        if not journal and Path(url).exists():
            for suffix in ("", "-wal", "-shm"):
                Path(url + suffix).unlink(missing_ok=True)
        with Progress(TextColumn(f"[bold]{ev_.name}"), BarColumn(), TextColumn("{task.completed}/{task.total} prices"), TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task("replay", total=len(path.ts_ns))
            result = run_replay(path.ts_ns, path.price, name=ev_.name, population=PopulationSpec(n_accounts=accounts, seed=seed),
                                liquidity=LiquidityModel(depth=depth), journal_url=url,
                                progress=lambda k, n: bar.update(task, completed=k))
        paths = write_report(result, out_dir)
    except RampartsError as exc:
        _fail(exc)
    s = result.summary
    table = Table(title=f"{ev_.title}: {candles.source or ''} ({len(path.ts_ns):,} prices, low {s['low']:,.2f}, −{s['drawdown']:.0%})")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [
        ("traders", f"{s['accounts']:,}"),
        ("margin calls", f"{s['margin_calls']:,}"),
        ("liquidation steps", f"{s['liquidation_steps']:,}"),
        ("liquidated notional (USDC)", f"{s['liquidated_notional_usdc']:,.0f}"),
        ("bankrupt accounts", f"{s['bankruptcies']:,}"),
        ("insurance fund start → end (USDC)", f"{s['insurance_fund_start_usdc']:,.0f} → {s['insurance_fund_end_usdc']:,.0f}"),
        *[(f"layer: {k.replace('_', ' ')} (USDC)", f"{v:,.0f}") for k, v in result.totals.items()],
        ("auto-deleveraging fills", f"{s['deleverages']:,}"),
        ("backstop vault equity at end (USDC)", f"{s['vault_equity_end_usdc']:,.0f}"),
        ("value conserved", "yes" if s["value_conserved"] else "NO"),
        ("journal replay reproduces the state hash", "yes" if s["replay_identical"] else "NO"),
    ]
    for k, v in rows:
        table.add_row(k, v)
    console.print(table)
    console.print(f"report: {paths['html']}  summary: {paths['json']}  series: {paths['series']}")
    if not s["replay_identical"]:
        raise typer.Exit(1)


@app.command("replay-journal")
def replay_journal(url: str = typer.Argument(..., help="journal URL: a SQLite path or postgresql://..."), namespace: str = "ramparts") -> None:
    """Rebuild the engine from a journal and print its state hash."""
    from ramparts.engine.node import replay
    from ramparts.journal import open_journal

    try:
        with open_journal(url, namespace=namespace) as j:
            e = replay(j)
    except RampartsError as exc:
        _fail(exc)
    console.print(f"seq {e.seq}  state hash {e.state_hash()}")


@app.command("verify-proof")
def verify_proof(
    proof: Path = typer.Argument(..., help="an inclusion proof JSON file"),
    root: str = typer.Option(None, help="the root hash the venue published (64 hex); the proof must lead to it"),
    root_file: Path = typer.Option(None, help="the venue's published root.json; its hash is the expected root"),
) -> None:
    """Verify a Merkle-sum-tree proof of liabilities offline (exit 0 verified, 1 rejected, 2 unreadable)."""
    import json

    from ramparts.solvency.cli import verify_proof_command

    if root_file is not None:
        try:
            root = json.loads(root_file.read_text(encoding="utf-8"))["hash"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            _fail(f"cannot read the root hash from {root_file}: {exc}")
    raise typer.Exit(verify_proof_command(proof, expected_root=root))


@app.command("prove-liabilities")
def prove_liabilities(
    balances: Path = typer.Argument(None, help="CSV of account_id,asset,amount_units (or use --journal)"),
    journal: str = typer.Option("", help="build from the engine state in this journal and journal the root there"),
    secret_file: Path = typer.Option(None, help="server secret (≥ 16 bytes) the per-account salts derive from"),
    snapshot_id: str = typer.Option(None, help="snapshot name bound into the root (default: CSV name or seq-<n>)"),
    namespace: str = typer.Option("ramparts", help="journal namespace (PostgreSQL schema)"),
    out: Path = typer.Option(Path("proofs"), help="output directory for root.json and the proofs"),
) -> None:
    """Build a Merkle sum tree over account equities and write the root and every inclusion proof.

    From a CSV, or with ``--journal`` from the engine's own state: then the root (hash and totals)
    is journaled as a ``LiabilitiesRoot`` event, which the engine accepts only if the totals equal
    its ledger, and the reserves attestation is printed.
    """
    from ramparts.solvency.cli import build_tree_command

    if balances is not None and journal:
        _fail("give either a balances CSV or --journal, not both")
    if balances is not None:
        raise typer.Exit(build_tree_command(balances, out, snapshot_id=snapshot_id, salt_secret_file=secret_file))
    if not journal:
        _fail("give a balances CSV or --journal URL")
    if secret_file is None:
        _fail("--journal needs --secret-file: the salts must be reproducible to re-issue proofs")
    from ramparts.engine.node import Node
    from ramparts.solvency.cli import print_tree_summary
    from ramparts.solvency.engine_snapshot import publish_liabilities

    try:
        secret = secret_file.read_bytes().strip()
        with Node.open(journal, namespace=namespace) as node:
            pub = publish_liabilities(node, out, salt_secret=secret, snapshot_id=snapshot_id)
    except (RampartsError, OSError) as exc:
        _fail(exc)
    print_tree_summary(pub.tree, pub.build_seconds, console)
    table = Table(title="reserves against liabilities")
    for col in ("asset", "reserves held", "net liabilities", "surplus (insurance, fees, − bad debt)"):
        table.add_column(col, justify="right")
    for r in pub.attestation.rows:
        table.add_row(r.asset, f"{r.holdings:,}", f"{r.net_liabilities:,}", f"{r.surplus:,}")
    console.print(table)
    console.print(f"journaled LiabilitiesRoot for snapshot {pub.record['snapshot_id']} at sequence {pub.record['sequence']}; "
                  f"wrote {out / 'root.json'} and {pub.proofs_written:,} proofs")
    if not pub.attestation.solvent:
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover - console entry point
    try:
        app()
    except RampartsError as exc:
        console.print(f"[bold red]error:[/] {exc}")
        sys.exit(2)


if __name__ == "__main__":  # pragma: no cover
    main()
