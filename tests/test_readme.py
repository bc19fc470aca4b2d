"""The README's code cannot rot: its opening commands are the two CI runs, and every Python block runs.

* The README opens (right after its title) with a ``bash`` block of exactly two commands, each with a
  trailing ``# comment``: ``.ci/run`` extracts those two lines (the first ``bash`` block's non-empty lines)
  and runs them on a fresh clone, so they must stay verbatim and first.
* Every ``python`` block of the README runs to completion in a fresh interpreter (this one's ``python``),
  in an empty folder, without a user's ``RAMPARTS_DATA``; an exception, a failed ``assert`` or a non-zero
  exit fails the test, with the block's output in the message.
* Every command ``ramparts --help`` lists (and every sub-command of a group) appears in the README.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"

#: The two commands the README opens with, exactly as .ci/run runs them (comments stripped).
OPENING_COMMANDS = [
    "pip install -c constraints.txt -e . && ramparts replay black-thursday-2020",
    "pip install -c constraints.txt -e '.[test]' && python3 -m pytest -q",
]

_FENCE = re.compile(r"^```\s*([\w+-]*)\s*$")


def fenced_blocks(text: str) -> list[tuple[str, int, str]]:
    """``(language, line number of the opening fence, body)`` of every fenced code block, in order.

    Raises
    ------
    AssertionError
        If a fence is left open at the end of the text.
    """
    blocks: list[tuple[str, int, str]] = []
    lang: str | None = None
    start = 0
    body: list[str] = []
    for n, line in enumerate(text.splitlines(), start=1):
        m = _FENCE.match(line)
        if lang is None:
            if m:
                lang, start, body = m.group(1).lower(), n, []
        elif line.strip() == "```":
            blocks.append((lang, start, "\n".join(body) + "\n"))
            lang = None
        else:
            body.append(line)
    assert lang is None, f"README.md: the code block opened at line {start} is never closed"
    return blocks


def python_blocks() -> list[tuple[int, str]]:
    return [
        (line, body)
        for lang, line, body in fenced_blocks(README.read_text(encoding="utf-8"))
        if lang in ("python", "py")
    ]


def run_block(
    code: str, cwd: Path, *, label: str = "block", timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run ``code`` as a script in a fresh interpreter in ``cwd``; raise ``AssertionError`` unless it exits 0."""
    script = cwd / "readme_block.py"
    script.write_text(code, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k not in ("RAMPARTS_DATA", "PYTHONSTARTUP")}
    env["PYTHONIOENCODING"] = "utf-8"
    cmd = [sys.executable, str(script)]
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        out, err = proc.stdout[-4000:], proc.stderr[-4000:]
        raise AssertionError(f"{label} exited {proc.returncode}\n--- stdout\n{out}\n--- stderr\n{err}")
    return proc


def test_readme_opens_with_the_two_commands_ci_runs():
    text = README.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert lines[0] == "# ramparts"
    first = next(line for line in lines[1:] if line.strip())
    assert first == "```bash", (
        f"the README must open with a ```bash block right after its title, not {first!r}"
    )

    blocks = fenced_blocks(text)
    assert blocks and blocks[0][0] == "bash", "the first code block of the README must be the bash quickstart"
    # what .ci/run extracts: the non-empty lines of the first ```bash block
    commands = [line for line in blocks[0][2].splitlines() if line.strip()]
    assert len(commands) == 2, (
        f"the quickstart must hold exactly two commands, found {len(commands)}: {commands}"
    )
    for line, expected in zip(commands, OPENING_COMMANDS, strict=True):
        command, sep, comment = line.partition("#")
        assert command.strip() == expected, f"quickstart line {line!r} is not {expected!r}"
        assert sep and comment.strip(), (
            f"quickstart line {line!r} needs a trailing # comment saying what it does"
        )


def test_readme_has_python_examples_without_placeholders():
    blocks = python_blocks()
    assert blocks, "the README has no ```python block"
    for line, body in blocks:
        assert "..." not in body, f"README.md line {line}: a Python example must be complete (no `...`)"


@pytest.mark.parametrize("line,code", python_blocks(), ids=lambda v: f"line{v}" if isinstance(v, int) else "")
def test_readme_python_block_runs(line, code, tmp_path):
    proc = run_block(code, tmp_path, label=f"README.md's python block at line {line}")
    assert proc.stdout.strip(), f"README.md's python block at line {line} printed nothing"


def test_a_block_that_fails_fails_the_test(tmp_path):
    run_block("print('fine')\n", tmp_path)
    with pytest.raises(AssertionError, match="ZeroDivisionError"):
        run_block("print(1 / 0)\n", tmp_path)
    with pytest.raises(AssertionError, match="exited 1"):
        run_block("assert 1 == 2\n", tmp_path)


def test_fenced_blocks_refuses_an_unclosed_block():
    assert fenced_blocks("x\n```python\nprint(1)\n```\n") == [("python", 2, "print(1)\n")]
    with pytest.raises(AssertionError, match="never closed"):
        fenced_blocks("```python\nprint(1)\n")


def _cli_commands() -> list[str]:
    """Every command path the CLI registers: ``replay``, ``service create-key``, ...

    Duck-typed (``list_commands`` / ``get_command``), since typer may carry its own copy of click.
    """
    import typer.main

    from ramparts.cli import app

    out: list[str] = []

    def walk(group, prefix: str, parent) -> None:
        ctx = group.context_class(group, parent=parent)
        for name in group.list_commands(ctx):
            cmd = group.get_command(ctx, name)
            if cmd is None or getattr(cmd, "hidden", False):
                continue
            out.append(f"{prefix}{name}")
            if hasattr(cmd, "list_commands"):
                walk(cmd, f"{prefix}{name} ", ctx)

    walk(typer.main.get_command(app), "", None)
    return out


def test_every_command_is_in_the_readme():
    text = README.read_text(encoding="utf-8")
    missing = [c for c in _cli_commands() if f"`ramparts {c}" not in text]
    assert not missing, f"commands missing from the README's command table: {missing}"
