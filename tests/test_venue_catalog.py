"""``ramparts venues``: the catalogue names real modules, existing test files and the engine profiles (issue 22, item 4)."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from typer.testing import CliRunner

from ramparts.cli import app
from ramparts.venues.catalog import VENUES
from ramparts.venues.profiles import PROFILES

ROOT = Path(__file__).resolve().parents[1]


def test_every_entry_points_at_real_code_tests_and_profiles():
    for v in VENUES:
        importlib.import_module(v.module)
        for t in v.tests:
            assert (ROOT / t).is_file(), t
        assert v.profile is None or v.profile in PROFILES
        commit = re.search(r"@ ([0-9a-f]{40})\b", v.source)
        assert commit or "documentation" in v.source or "published" in v.source or "recalled" in v.source, v.source
    # every engine profile but ramparts' own is a catalogued venue
    assert {p for p in PROFILES if p != "ramparts"} <= {v.profile for v in VENUES}


def test_a_venue_modules_docstring_cites_the_catalogued_commit():
    for v in VENUES:
        commit = re.search(r"@ ([0-9a-f]{40})\b", v.source)
        if commit and v.module != "ramparts.venues.profiles":
            assert commit.group(1) in (importlib.import_module(v.module).__doc__ or ""), v.name


def test_the_command_lists_and_details_venues():
    runner = CliRunner()
    res = runner.invoke(app, ["venues"], env={"COLUMNS": "200"})
    assert res.exit_code == 0 and all(v.name in res.output for v in VENUES)
    one = runner.invoke(app, ["venues", "--venue", "dydx"], env={"COLUMNS": "200"})
    assert one.exit_code == 0 and "84d4664bae71e3a077adaac67fb77ad19cd28d30" in one.output
    assert "differs: profile: the book is synthetic" in " ".join(one.output.split())
    bad = runner.invoke(app, ["venues", "--venue", "ftx"])
    assert bad.exit_code == 2 and "unknown venue 'ftx'" in bad.output and "Traceback" not in bad.output


def test_in_engine_names_real_venue_functions_and_is_printed():
    """Each ``in_engine`` line starts with the venue functions the engine calls for the profile: they exist."""
    import functools

    named = 0
    for v in VENUES:
        mod = importlib.import_module(v.module)
        for line in v.in_engine:
            assert v.profile, v.name  # only a venue with an engine profile runs anything in the engine
            for name in line.split(":")[0].split(", "):
                assert functools.reduce(getattr, name.split("."), mod) is not None, (v.name, name)
                named += 1
    assert named >= 4
    one = CliRunner().invoke(app, ["venues", "--venue", "drift"], env={"COLUMNS": "200"})
    assert one.exit_code == 0 and "in the engine: liquidation_fee" in " ".join(one.output.split())
