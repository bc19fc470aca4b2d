"""The journal's command: ``ramparts replay-journal URL`` rebuilds the engine from a journal.

This module owns the command line of :mod:`ramparts.journal`. A command that reads a journal
never creates one: a path that does not exist, a file holding no journal or a PostgreSQL schema
holding none is refused (exit 2), so a typo cannot "verify" an empty venue.
"""

from __future__ import annotations

import typer

from ramparts.cli_common import console, journal_to_read, user_errors


def replay_journal(
    url: str = typer.Argument(..., help="an existing journal: a SQLite path, sqlite:///path or "
                                        "postgresql://..."),
    namespace: str = typer.Option("ramparts", help="namespace (PostgreSQL schema, SQLite table prefix)"),
) -> None:
    """Rebuild the engine from an existing journal and print its sequence number and state hash."""
    from ramparts.engine.node import replay
    from ramparts.journal import open_journal

    with user_errors():
        journal_to_read(url, "URL")
        with open_journal(url, namespace=namespace, create=False) as j:
            e = replay(j)
    console.print(f"seq {e.seq}  state hash {e.state_hash()}", soft_wrap=True, highlight=False)


def register(app: typer.Typer) -> None:
    """Add the journal's commands to the root app."""
    app.command("replay-journal")(replay_journal)


__all__ = ["register", "replay_journal"]
