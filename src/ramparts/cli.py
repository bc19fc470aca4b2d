"""The ``ramparts`` command line: the root app that assembles each area's commands.

This module owns only the root: ``--version``, the list of command modules and the console entry
point. Each area's commands live beside the code they drive, and the conventions they share (one
``error:`` line and exit code 2 for a user's mistake, never a traceback; the output-folder rule;
progress bars) live in :mod:`ramparts.cli_common`.

``ramparts.cli:app`` (the console script) and ``python -m ramparts`` run the same app.
"""

from __future__ import annotations

import importlib

import typer

from ramparts.cli_common import console, new_app

#: The command modules, in the order ``ramparts --help`` lists their commands. ``(module, None)``:
#: the module's ``register(app)`` adds its commands; ``(module, NAME)``: its typer ``app`` becomes
#: the sub-command group ``ramparts NAME``.
COMMAND_MODULES: tuple[tuple[str, str | None], ...] = (
    # demo, replay, stress, coverage, calibrate, backtest-margin, compare, depeg, replay-options, export-book
    ("ramparts.lab.commands", None),
    ("ramparts.journal.commands", None),  # replay-journal
    ("ramparts.solvency.commands", None),  # verify-proof, prove-liabilities
    ("ramparts.service.cli", None),  # serve, and the service group (create-key, revoke-key, serve)
    ("ramparts.data.commands", "data"),  # list, verify, path, fetch the shipped market history
    ("ramparts.venues.commands", None),  # venues: what ramparts reproduces of each venue
    ("ramparts.bus.commands", None),  # run: the engine fed by NATS JetStream, effects published back
)


def version() -> str:
    """The installed distribution's version (the package's own when it is not installed)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("ramparts")
    except PackageNotFoundError:
        from ramparts import __version__

        return __version__


def _print_version(value: bool) -> None:
    if value:
        console.print(f"ramparts {version()}", highlight=False)
        raise typer.Exit()


app = new_app("ramparts: a layered margin and liquidation engine.")


@app.callback()
def _root(
    show_version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True,
                                      help="print the version and exit"),
) -> None:
    """ramparts: a layered margin and liquidation engine."""


for _module, _group in COMMAND_MODULES:
    _mod = importlib.import_module(_module)
    if _group is None:
        _mod.register(app)
    else:
        app.add_typer(_mod.app, name=_group)


def main() -> None:  # pragma: no cover - console entry point
    """Run the command line (what ``ramparts`` and ``python -m ramparts`` do)."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
