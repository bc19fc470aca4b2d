"""The exceptions ramparts raises for user mistakes and for corrupt inputs.

Every user-facing error derives from :class:`RampartsError`; the CLI and the service turn these into a
clear message (never a traceback). An error raised while applying an event guarantees that the engine
state is unchanged.
"""

from __future__ import annotations


class RampartsError(Exception):
    """Base class of every error ramparts reports to a user."""


class InvalidInput(RampartsError, ValueError):
    """A value is malformed: NaN, infinite, negative, off-grid, overflowing, of the wrong type.

    ``field`` names the offending field so that the message can point at it.
    """

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class UnknownEntity(RampartsError, KeyError):
    """An unknown asset, instrument, account or sub-account was referenced."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")

    def __str__(self) -> str:  # KeyError quotes its argument; we want the plain message
        return f"{self.field}: {self.message}"


class Rejected(RampartsError):
    """A well-formed event that the risk rules refuse (initial margin, free collateral, gating).

    ``reason`` is a short machine-readable code (e.g. ``initial_margin``), ``message`` says why.
    """

    def __init__(self, reason: str, message: str):
        self.reason = reason
        self.message = message
        super().__init__(f"{reason}: {message}")


class JournalCorrupt(RampartsError):
    """A journal row or snapshot that does not parse, or a gap in the sequence numbers."""


class DataError(RampartsError):
    """A market-data file that is malformed, gappy beyond the policy, or of an unknown format."""
