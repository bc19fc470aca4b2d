"""Fixtures shared by the test modules."""

from __future__ import annotations

from pathlib import Path

import pytest


def _find_shared_data() -> Path | None:
    for anc in Path(__file__).resolve().parents:
        cand = anc / "shared" / "data"
        if cand.is_dir():
            return cand
    return None


@pytest.fixture(scope="module")
def shared_data() -> Path:
    """``../shared/data`` (the real market history); the test is skipped where it is absent."""
    d = _find_shared_data()
    if d is None:
        pytest.skip("the shared market data (../shared/data) is not present")
    return d
