"""The exceptions ramparts raises for user mistakes and for corrupt inputs.

Every user-facing error derives from :class:`RampartsError`; the CLI and the service turn these into a
clear message (never a traceback). An error raised while applying an event guarantees that the engine
state is unchanged. Any other exception raised while applying an event is a defect; the journaled
node (:class:`ramparts.engine.node.Node`) then discards its memory, rebuilds it from the journal and
reports the event as :class:`EventFailed`.
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


class EventFailed(RampartsError):
    """An event whose application raised an unexpected exception (not a :class:`RampartsError`): a
    defect met by this input, not a refusal by the rules.

    Nothing of the event was kept: the node rebuilt its memory from the journal and applied the
    rest of the batch without it. ``cause`` names the exception's type (the traceback is logged).
    """

    def __init__(self, cause: BaseException | str):
        self.cause = cause if isinstance(cause, str) else type(cause).__name__
        self.message = f"the event could not be applied ({self.cause}); nothing of it was kept"
        super().__init__(self.message)

    def __reduce__(self):  # pickles (a Dask worker's error) as its cause's name
        return (type(self), (self.cause,))


def from_rejection(effect: dict) -> RampartsError:
    """The typed error a ``Rejected`` effect stands for: exactly what the same item raises as its own event.

    One error model, whichever way an event arrives: a single event the rules refuse raises a
    :class:`RampartsError` (:class:`Rejected` with its ``reason``, :class:`InvalidInput` or :class:`UnknownEntity`
    with its ``field``) and changes nothing; the same item inside a ``TradeBatch`` is a ``Rejected`` effect
    (``{"kind": "Rejected", "item": k, "error": <class name>, "message": str(error), "reason" | "field": ...}``)
    while the rest of the batch goes on. ``from_rejection(effect)`` gives back the error the single event raises
    (same class, same ``reason`` / ``field``, same message), so a caller can treat both paths alike.
    """
    if effect.get("kind") != "Rejected":
        raise ValueError(f"not a Rejected effect: {effect.get('kind')!r}")
    text = str(effect.get("message", ""))
    name = effect.get("error")
    if "reason" in effect:
        reason = str(effect["reason"])
        return Rejected(reason, text[len(reason) + 2 :] if text.startswith(f"{reason}: ") else text)
    if "field" in effect:
        field = str(effect["field"])
        cls = UnknownEntity if name == "UnknownEntity" else InvalidInput
        return cls(field, text[len(field) + 2 :] if text.startswith(f"{field}: ") else text)
    return RampartsError(text)
