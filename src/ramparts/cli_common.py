"""What every ``ramparts`` command module shares: one-line errors, progress bars, paths, output folders.

The root (``ramparts/cli.py``) assembles one command module per area (``ramparts.lab.commands``,
``ramparts.journal.commands``, ``ramparts.solvency.commands``, ``ramparts.service.cli``); this
module owns the conventions they all follow, so that none of them copies them.

Errors
    A user's mistake is one line, ``error: ...`` on stderr, and exit code 2; never a traceback.
    :func:`fail` prints it. :func:`user_errors` turns the library's errors (``RampartsError``,
    ``OSError``, pydantic's ``ValidationError``) into it and names the command-line flag: the
    ``field`` of a library error is looked up in the command module's table (``horizon_steps`` is
    the ``horizon`` parameter, shown as ``--horizon``) or else matched to a parameter of the same
    name, and the module's rewording table turns library phrasing (``gaps='skip'``) into the
    command line's (``--gaps skip``). :class:`Group` gives click's own usage errors (a bad option
    value, an unknown option) the same one-line form.

Journals
    :func:`journal_to_read` and :func:`journal_to_create` check a journal URL given on the command
    line before anything opens it: a command that reads a journal refuses one that does not exist
    (it never creates an empty one), a command that starts a journal needs an existing, writable
    folder, and one that needs a fresh journal refuses one that already exists.

Output folders (:func:`run_folder`, one rule for every command that writes files)
    Without ``--out`` a run writes to a new folder ``reports/<command>/<label>-<UTC time>``
    (``-2``, ``-3``... if two runs start in the same second), so no run overwrites another.
    ``--out DIR`` names the folder; it must be new or empty, unless ``--force`` is given. A run that
    fails removes the folders it created. Commands print the path of what they wrote on their last
    line (:func:`show_files`).
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from typer.core import TyperGroup

from ramparts.errors import InvalidInput, RampartsError, UnknownEntity

try:  # typer 0.2x carries its own copy of click (typer._click); older typer runs on click itself
    from typer._click import exceptions as _cx
    from typer._click.core import Abort as _Abort
    from typer._click.globals import get_current_context as _current_context
except ImportError:  # pragma: no cover - older typer
    from click import exceptions as _cx
    from click import get_current_context as _current_context
    from click.exceptions import Abort as _Abort


class _Never(Exception):
    """Stands for an exception class this click does not have."""


_NoArgsIsHelpError = getattr(_cx, "NoArgsIsHelpError", _Never)

#: Tables, figures and reports go to stdout.
console = Console()
#: Errors go to stderr.
err_console = Console(stderr=True)

#: Where runs write by default: ``reports/<command>/<label>-<UTC time>``.
REPORTS = Path("reports")

#: A command module's table from library field names to the command's parameter names.
Fields = Mapping[str, str]
#: A command module's rewording table: (regular expression, replacement) applied to error messages.
Rewording = Sequence[tuple[str, str]]


# --------------------------------------------------------------------------------------------------
# errors


def _say_error(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True, highlight=False)


def fail(message: str | BaseException, code: int = 2) -> NoReturn:
    """Print ``error: message`` on stderr and exit with ``code`` (2: the user's input was refused)."""
    _say_error(str(message))
    raise typer.Exit(code)


def flag_for(name: str, fields: Fields | None = None) -> str | None:
    """How the running command shows the parameter a library field stands for (``--horizon``, ``EVENT``)."""
    ctx = _current_context(silent=True)
    if ctx is None:
        return None
    wanted = (fields or {}).get(name, name)
    for param in ctx.command.params:
        if param.name == wanted:
            if param.param_type_name == "option":
                return max(param.opts, key=len)
            return str(param.name).upper()  # an argument, shown as its metavar
    return None


def describe(exc: BaseException, fields: Fields | None = None, rewording: Rewording = ()) -> str:
    """One line (or a few, for a listing) telling the user what was wrong, in the command line's words."""
    if isinstance(exc, (InvalidInput, UnknownEntity)) and isinstance(exc.field, str):
        flag = flag_for(exc.field, fields)
        text = f"{flag}: {exc.message}" if flag else str(exc)
    elif isinstance(exc, OSError):
        where = exc.filename if exc.filename is not None else ""
        reason = exc.strerror or str(exc)
        text = f"cannot access {where}: {reason}" if where else reason
    elif _is_validation_error(exc):
        first = exc.errors()[0] if exc.errors() else {}
        loc = ".".join(str(p) for p in first.get("loc", ()))
        flag = flag_for(loc, fields) if loc else None
        text = f"{flag or loc or 'input'}: {first.get('msg', exc)}"
    else:
        text = str(exc)
    for pattern, replacement in rewording:
        text = re.sub(pattern, replacement, text)
    return text


def _is_validation_error(exc: BaseException) -> bool:
    # pydantic.ValidationError, without importing pydantic where no command needs it
    return type(exc).__name__ == "ValidationError" and type(exc).__module__.startswith("pydantic")


@contextmanager
def user_errors(fields: Fields | None = None, rewording: Rewording = ()) -> Iterator[None]:
    """Turn the library's errors raised in the block into :func:`fail` (see the module docstring)."""
    try:
        yield
    except RampartsError as exc:
        fail(describe(exc, fields, rewording))
    except OSError as exc:
        fail(describe(exc, fields, rewording))
    except Exception as exc:
        if _is_validation_error(exc):
            fail(describe(exc, fields, rewording))
        raise


class Group(TyperGroup):
    """The click group of every ``ramparts`` app: click's usage errors as one ``error:`` line too."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except _NoArgsIsHelpError as exc:  # the help (typer's rich help is already printed)
            if exc.format_message().strip():
                typer.echo(exc.format_message())
            sys.exit(exc.exit_code)
        except _cx.UsageError as exc:
            hint = f" (see {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
            _say_error(exc.format_message() + hint)
            sys.exit(exc.exit_code)
        except _cx.ClickException as exc:
            _say_error(exc.format_message())
            sys.exit(exc.exit_code)
        except _Abort:
            _say_error("aborted")
            sys.exit(1)
        except RampartsError as exc:  # a command that let one through: still no traceback
            _say_error(str(exc))
            sys.exit(2)
        sys.exit(rv if isinstance(rv, int) else 0)


def new_app(help: str, **kwargs: Any) -> typer.Typer:
    """A typer app with the conventions of every ``ramparts`` command line (see :class:`Group`)."""
    return typer.Typer(cls=Group, add_completion=False, no_args_is_help=True, help=help,
                       pretty_exceptions_show_locals=False, **kwargs)


def progress(label: str, unit: str) -> Progress:
    """The progress bar of a long run: ``label``, the bar, ``done/total unit``, the time elapsed."""
    return Progress(TextColumn(f"[bold]{escape(label)}"), BarColumn(),
                    TextColumn("{task.completed}/{task.total} " + unit), TimeElapsedColumn(), console=console)


# --------------------------------------------------------------------------------------------------
# journals named on the command line


def _journal_path(url: str, flag: str) -> Path | None:
    from ramparts.journal.store import journal_file

    try:
        path = journal_file(url)
    except InvalidInput as exc:
        fail(f"{flag}: {exc.message}")
    return None if path is None else Path(path)


def journal_to_read(url: str, flag: str) -> str:
    """Refuse a SQLite journal that does not exist (``flag`` names the option); returns ``url``.

    Open it with ``create=False`` afterwards: that also refuses an in-memory URL, a file holding no
    journal, and a PostgreSQL schema holding no journal.
    """
    path = _journal_path(url, flag)
    if path is not None:
        if path.is_dir():
            fail(f"{flag}: {path} is a folder, not a journal file")
        if not path.is_file():
            fail(f"{flag}: no such journal file: {path}")
    return url


def journal_to_create(url: str, flag: str, *, fresh: bool = False, what: str = "journal") -> str:
    """Check where a command will start or extend a journal (``flag`` names the option); returns ``url``.

    A SQLite journal's folder must exist and be writable (SQLite keeps its ``-wal`` and ``-shm``
    files beside the journal); an existing file must be writable. ``fresh=True`` (a command that
    builds its own state from the start) refuses a journal that already exists. ``what`` names the
    database in messages (``"key store"``).
    """
    path = _journal_path(url, flag)
    if path is None:
        if fresh and "://" in url:  # PostgreSQL: refuse a schema already holding events
            from ramparts.journal import open_journal

            with user_errors(), open_journal(url) as j:
                if j.last_seq():
                    fail(f"{flag}: {url.split('@')[-1]} already holds a journal ({j.last_seq():,} events); "
                         "this command starts a new one")
        return url
    folder = path.parent
    if not folder.is_dir():
        fail(f"{flag}: the folder {folder} does not exist "
             f"(a new {what} is created only in an existing folder)")
    if path.is_dir():
        fail(f"{flag}: {path} is a folder, not a {what} file")
    if path.exists():
        if fresh:
            fail(f"{flag}: {path} already exists; this command starts a new {what} (name a new file)")
        if not os.access(path, os.R_OK | os.W_OK):
            fail(f"{flag}: {path} is read-only; this command writes to the {what}")
    if not os.access(folder, os.W_OK | os.X_OK):
        fail(f"{flag}: the folder {folder} is read-only "
             f"(SQLite writes its -wal and -shm files beside the {what})")
    return url


def store_to_read(url: str, flag: str) -> str:
    """Refuse a SQLite key store that does not exist (``flag`` names the option); returns ``url``."""
    path = _journal_path(url, flag)
    if path is not None and not path.is_file():
        fail(f"{flag}: no such file: {path}")
    return url


# --------------------------------------------------------------------------------------------------
# output folders


def out_option(command: str, parent: Path | None = None) -> Any:
    """The ``--out`` option of a command that writes files (see :func:`run_folder`)."""
    where = parent if parent is not None else REPORTS / command
    return typer.Option(None, "--out",
                        help=f"output folder, new or empty (default: a new folder under {where}/)")


def force_option() -> Any:
    """The ``--force`` option that lets a run write into an ``--out`` folder holding earlier files."""
    return typer.Option(False, "--force",
                        help="write into the --out folder even if it holds an earlier run's files")


def _slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", label).strip("-.")[:80] or "run"


def _missing_ancestors(path: Path) -> list[Path]:
    """``path`` and its ancestors that do not exist yet, outermost first."""
    missing = []
    for p in (path, *path.parents):
        if p.exists():
            break
        missing.append(p)
    return missing[::-1]


@contextmanager
def run_folder(command: str, label: str, out: Path | None, *, force: bool = False,
               parent: Path | None = None) -> Iterator[Path]:
    """The folder a run writes to (the rule in the module docstring); removes what it made if the block fails.

    ``out`` is the ``--out`` option (``None``: a new folder ``<parent>/<label>-<UTC time>``, where
    ``parent`` defaults to ``reports/<command>``); ``force`` is ``--force``.
    """
    created: list[Path] = []
    if out is None:
        base = parent if parent is not None else REPORTS / command
        created = _missing_ancestors(base)
        try:
            base.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            fail(describe(exc))
        stem = f"{_slug(label)}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%SZ')}"
        n = 1
        while True:
            folder = base / (stem if n == 1 else f"{stem}-{n}")
            try:
                folder.mkdir()
                break
            except FileExistsError:
                n += 1
            except OSError as exc:
                _remove(created)
                fail(describe(exc))
        created.append(folder)
    else:
        folder = out
        if folder.exists() and not folder.is_dir():
            fail(f"--out: {folder} is a file, not a folder")
        if folder.is_dir():
            held = sorted(p.name for p in folder.iterdir())
            if held and not force:
                shown = ", ".join(held[:4]) + (", ..." if len(held) > 4 else "")
                fail(f"--out: {folder} already holds files ({shown}); "
                     "pass --force to write over them, or name a new folder")
        else:
            created = _missing_ancestors(folder)
            try:
                folder.mkdir(parents=True)
            except OSError as exc:
                fail(describe(exc))
    try:
        yield folder
    except BaseException:
        _remove(created)
        raise


def _remove(created: list[Path]) -> None:
    """Remove the folders a failed run created (the innermost with its files, its ancestors if left empty)."""
    for i, p in enumerate(reversed(created)):
        try:
            if i == 0:
                shutil.rmtree(p)
            else:
                p.rmdir()
        except OSError:
            return


def show_files(main: Path | str, label: str = "report", **others: Path | str) -> None:
    """Print what a run wrote: the other files on one line, then ``<label>: <main>`` as the last line."""
    if others:
        console.print("  ".join(f"{k}: {v}" for k, v in others.items()), soft_wrap=True, highlight=False)
    console.print(f"{label}: {main}", soft_wrap=True, highlight=False)


__all__ = [
    "REPORTS",
    "Group",
    "console",
    "describe",
    "err_console",
    "fail",
    "flag_for",
    "force_option",
    "journal_to_create",
    "journal_to_read",
    "new_app",
    "out_option",
    "progress",
    "run_folder",
    "show_files",
    "store_to_read",
    "user_errors",
]
