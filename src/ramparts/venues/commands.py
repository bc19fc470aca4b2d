"""``ramparts venues``: every venue ramparts reproduces, its source commit, what is reproduced and what differs.

The catalogue lives in :mod:`ramparts.venues.catalog`; this module only prints it.
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from ramparts.cli_common import fail
from ramparts.errors import RampartsError


def venues(
    venue: str = typer.Option(None, "--venue", help="one venue, with everything that differs"),
) -> None:
    """List the venues whose arithmetic ramparts reproduces: source commit, what is reproduced, tests, what differs."""
    from ramparts.venues.catalog import VENUES, entry

    console = Console()
    if venue is not None:
        try:
            v = entry(venue)
        except RampartsError as exc:
            fail(f"--venue: {getattr(exc, 'message', exc)}")
        console.print(f"[bold]{v.title}[/] ({v.name}): {v.module}", highlight=False)
        console.print(f"source: {v.source}", soft_wrap=True, highlight=False)
        console.print(f"reproduced: {v.reproduced}", soft_wrap=True, highlight=False)
        console.print(f"tests: {', '.join(v.tests)}", soft_wrap=True, highlight=False)
        console.print(f"engine profile (ramparts compare): {v.profile or 'none'}", highlight=False)
        for f in v.in_engine:
            console.print(f"  in the engine: {f}", soft_wrap=True, highlight=False)
        for d in v.differences():
            console.print(f"  differs: {d}", soft_wrap=True, highlight=False)
        return
    t = Table(title="venues: ramparts venues --venue NAME shows what differs", show_lines=True)
    for col in ("venue", "source", "reproduced", "tests", "profile", "in engine", "differences"):
        t.add_column(col, overflow="fold")
    for v in VENUES:
        t.add_row(v.name, v.source, v.reproduced, "\n".join(v.tests), v.profile or "-",
                  "\n".join(f.split(":")[0] for f in v.in_engine) or "-", f"{len(v.differences())}")
    console.print(t)


def register(app: typer.Typer) -> None:
    app.command("venues")(venues)
