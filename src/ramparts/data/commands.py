"""``ramparts data``: list the shipped market history with its provenance, verify it, fetch what is not shipped.

The logic lives in :mod:`ramparts.data`; this module only prints it.
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from ramparts.cli_common import fail as _fail
from ramparts.cli_common import new_app
from ramparts.errors import DataError

app = new_app("The market history that ships with ramparts: list it, verify it, fetch what is not shipped.")


def _console() -> Console:
    return Console()  # made per command, so the terminal's width (COLUMNS) is read when it runs


@app.command("list")
def list_files(
    folder: str = typer.Option(None, "--folder", help="only this folder (crash_windows, hourly, daily, funding, "
                                                        "options, liquidations, calibration)"),
    sources: bool = typer.Option(False, "--sources", help="show each file's source repository and terms"),
) -> None:
    """List the data files: folder, name, size, whether shipped or to fetch, and (with --sources) provenance."""
    console = _console()
    from ramparts.data import PACKAGE_DIR, cache_dir, manifest, override_dir, status

    try:
        over = override_dir()
    except DataError as exc:
        _fail(exc)
    entries = [e for e in manifest().values() if folder is None or e.folder == folder]
    if not entries:
        _fail(f"--folder {folder!r}: no such folder; one of {', '.join(sorted({e.folder for e in manifest().values()}))}")
    table = Table(title=f"ramparts data ({PACKAGE_DIR})", show_lines=sources)
    table.add_column("file")
    table.add_column("size", justify="right")
    table.add_column("state")
    table.add_column("what it holds", overflow="fold")
    if sources:
        table.add_column("source and terms", overflow="fold")
    for e in entries:
        state, _ = status(e)
        shown = "shipped, verified" if (e.shipped and state == "ok") else state
        if not e.shipped:
            shown = "fetched, verified" if state == "ok" else f"{state}: ramparts data fetch"
        size = f"{(e.bytes or e.content_bytes) / 1e3:,.0f} kB"
        row = [e.path, size, shown, e.description]
        if sources:
            row.append(f"{e.source}\n[dim]{e.terms}[/]")
        table.add_row(*row)
    console.print(table)
    console.print(f"provenance: {PACKAGE_DIR / 'PROVENANCE.md'}; downloads are kept in {cache_dir()}")
    if over is not None:
        console.print(f"RAMPARTS_DATA={over}: files found there are used instead of the shipped ones")


@app.command()
def verify() -> None:
    """Check the SHA-256 of every shipped (and fetched) file against the manifest; exit 1 if any is corrupt."""
    console = _console()
    from ramparts.data import verify_all

    bad = ok = 0
    for e, state in verify_all():
        ok += state == "ok"
        if state == "ok":
            continue
        if state == "not fetched":
            console.print(f"{e.path}: not fetched (optional; `ramparts data fetch {e.path}`)")
            continue
        bad += 1
        console.print(f"[bold red]{state}[/]: {e.path}")
    console.print(f"{ok} files verified, {bad} corrupt or missing")
    if bad:
        raise typer.Exit(1)


@app.command()
def fetch(
    name: str = typer.Argument(None, help="the file's name as `ramparts data list` shows it (default: every file not shipped)"),
    force: bool = typer.Option(False, "--force", help="download again even if an intact copy is kept"),
) -> None:
    """Download the files whose terms keep them out of the package, and keep them only if their SHA-256 matches."""
    console = _console()
    from ramparts.data import fetch as do_fetch
    from ramparts.data import manifest

    names = [name] if name else [e.path for e in manifest().values() if not e.shipped]
    for n in names:
        try:
            p = do_fetch(n, force=force)
        except DataError as exc:
            _fail(exc)
        console.print(f"{n}: {p}")


@app.command()
def path(name: str = typer.Argument(..., help="the file's name as `ramparts data list` shows it")) -> None:
    """Print the verified path of one data file (to open it in pandas or a spreadsheet)."""
    console = _console()
    from ramparts.data import data_path

    try:
        console.print(str(data_path(name)), soft_wrap=True)
    except DataError as exc:
        _fail(exc)
