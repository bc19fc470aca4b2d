"""Fixtures shared by the test modules."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _no_user_data_override(monkeypatch):
    """Tests read the data that ships with the package: a ``RAMPARTS_DATA`` in the caller's environment
    (a user's own history) must not change what they see. A test that wants an override sets it."""
    monkeypatch.delenv("RAMPARTS_DATA", raising=False)


def pytest_report_header(config):
    return f"RAMPARTS_DATA={os.environ.get('RAMPARTS_DATA', '')!r} (ignored by the tests: they read the shipped data)"


# ------------------------------------------------------------------------------------------------ skips
# Under RAMPARTS_STRICT_SKIPS=1 (.ci/run sets it) a skipped test fails the run unless it is marked ``gpu``:
# a fresh clone on a machine with the project's services (PostgreSQL, Chromium) must run every other test,
# so a missing dependency or data file cannot hide behind a skip.
_BAD_SKIPS: list[str] = []


def _strict() -> bool:
    return os.environ.get("RAMPARTS_STRICT_SKIPS", "") not in ("", "0")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and _strict() and item.get_closest_marker("gpu") is None:
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _BAD_SKIPS.append(f"{item.nodeid}: {reason}")


def pytest_collectreport(report):
    if report.skipped and _strict():  # a module skipped as a whole (allow_module_level)
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        _BAD_SKIPS.append(f"{report.nodeid}: {reason}")


def pytest_terminal_summary(terminalreporter):
    if _BAD_SKIPS:
        terminalreporter.section("skips not allowed under RAMPARTS_STRICT_SKIPS=1 (only gpu tests may skip)")
        for line in _BAD_SKIPS:
            terminalreporter.write_line(line)


def pytest_sessionfinish(session, exitstatus):
    if _BAD_SKIPS and exitstatus in (0, 5):  # 5: every test of the run skipped
        session.exitstatus = 1
