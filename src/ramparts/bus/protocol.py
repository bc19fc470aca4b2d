"""The bus's message format: subjects, streams, input decoding, effect and dead-letter messages.

Everything a producer, a matcher or a dashboard needs to talk to ``ramparts run`` is here; the
runner (:mod:`ramparts.bus.runner`) only moves these messages. ``P`` is the subject prefix
(``--prefix``, default ``ramparts``) and ``S`` the stream prefix (``--stream-prefix``, default
``RAMPARTS``), so that several engines (shards) can share one NATS system.

Input: stream ``S_IN``, subjects ``P.in.<channel>``
    One event per message: the JSON object of an event exactly as the journal stores it and the
    service accepts it (:func:`ramparts.engine.events.parse_event`; what
    ``event.model_dump(mode="json")`` or :func:`~ramparts.engine.events.encode_event` gives):
    ``{"kind": "Fill", "ts": 1700000000000000000, "instrument": "BTC-PERP", "buyer": "a/main",
    "seller": "b/main", "price": "64000.5", "size": "0.25"}``. ``kind`` and ``ts`` (integer
    nanoseconds) are required: the bus never stamps a time, so the state is a function of the
    stream alone. Decimals are strings or integers, never JSON floats. The channel says who may
    publish what (grant NATS publish permissions per subject):

    ========== ==================================================================================
    ``fills``   ``Fill``, ``TradeBatch``, ``LiquidationBid`` (the matching engine, keepers)
    ``prices``  ``OraclePrice``, ``OracleQuotes``, ``AssetPrice``, ``ExchangeRate``, ``BookSnapshot``
    ``funding`` ``FundingTick``, ``Tick``, ``Settlement`` (the venue's clock)
    ``admin``   every kind (listings, accounts, deposits, withdrawals, parameters, breaker resets)
    ========== ==================================================================================

    The stream's sequence is the venue's order: one stream, one total order, so the engine's
    state is a deterministic function of the stream. A producer should set the ``Nats-Msg-Id``
    header to a unique id of the event (a fill id): JetStream drops a second publish of the same
    id within the stream's duplicate window (``--duplicate-window``, default 2 minutes), so a
    producer's retry is never applied twice.

Effects: stream ``S_FX``, subjects ``P.fx.<EffectKind>``
    One message per effect of an applied event (``P.fx.MarginCall``, ``P.fx.LiquidationStep``,
    ``P.fx.Deleverage`` for ADL fills, ``P.fx.BreakerTripped``, ``P.fx.Rejected`` for a refused
    item of a ``TradeBatch``, ...), published after the event's group commit, in journal order.
    Body: ``{"seq": journal seq, "index": i, "ts": event ts, "event": event kind, "stream_seq":
    input stream seq, "effect": {...}}``; headers ``Nats-Msg-Id: P:fx:<seq>:<i>``,
    ``Ramparts-Seq``, ``Ramparts-Index``. ``(seq, index)`` names an effect uniquely: after a
    restart the runner publishes again what it could not confirm, and JetStream's duplicate window
    drops the copies (a follower that reads across a longer outage deduplicates on the pair).

Dead letters: stream ``S_DLQ``, subjects ``P.dlq.<reason>``
    Every input that is not applied, with why; the input is acknowledged and the consumer goes on.
    ``reason`` is ``undecodable`` (not UTF-8 JSON), ``invalid`` (not a valid event: the field and
    message of the :class:`~ramparts.errors.InvalidInput`), ``not_allowed`` (a kind its channel may
    not carry, or an unknown channel), ``refused`` (the engine refused it: a
    :class:`~ramparts.errors.Rejected` with its ``code``, an ``UnknownEntity`` or ``InvalidInput``
    with its ``field``; a matcher follows ``P.dlq.refused`` to learn that a fill did not stand) or
    ``failed`` (:class:`~ramparts.errors.EventFailed`: a defect; nothing of it was kept). Body:
    ``{"reason", "error", "message", "code" | "field", "stream", "stream_seq", "subject", "data"}``
    (``data``: the input as text, or ``data_b64`` when it is not UTF-8); headers ``Nats-Msg-Id:
    P:dlq:<stream>:<stream_seq>``, ``Ramparts-Reason``, ``Ramparts-Stream-Seq``.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from ramparts.engine.events import EVENT_TYPES, _Event, canonical_json, parse_event
from ramparts.errors import EventFailed, InvalidInput, RampartsError, Rejected, UnknownEntity

#: The input channels and the event kinds each may carry (``admin``: every kind).
CHANNELS: dict[str, frozenset[str]] = {
    "fills": frozenset({"Fill", "TradeBatch", "LiquidationBid"}),
    "prices": frozenset({"OraclePrice", "OracleQuotes", "AssetPrice", "ExchangeRate", "BookSnapshot"}),
    "funding": frozenset({"FundingTick", "Tick", "Settlement"}),
    "admin": frozenset(EVENT_TYPES),
}

#: The dead-letter reasons (the last token of the dead-letter subject).
DLQ_REASONS = ("undecodable", "invalid", "not_allowed", "refused", "failed")


def channel_for(kind: str) -> str:
    """The narrowest channel that carries events of ``kind`` (``admin`` for the rest)."""
    for name in ("fills", "prices", "funding"):
        if kind in CHANNELS[name]:
            return name
    return "admin"


@dataclass(frozen=True)
class Subjects:
    """The subjects and stream names of one engine on the bus (see the module docstring)."""

    prefix: str = "ramparts"
    stream_prefix: str = "RAMPARTS"

    def __post_init__(self) -> None:
        for what, value in (("prefix", self.prefix), ("stream_prefix", self.stream_prefix)):
            if not value or any(c in value for c in " \t\r\n*>") or value.startswith(".") or value.endswith("."):
                raise InvalidInput(what, f"{value!r} is not a valid NATS subject token")
        if "." in self.stream_prefix:
            raise InvalidInput("stream_prefix", f"{self.stream_prefix!r}: a stream name may not contain '.'")

    @property
    def input_stream(self) -> str:
        return f"{self.stream_prefix}_IN"

    @property
    def effects_stream(self) -> str:
        return f"{self.stream_prefix}_FX"

    @property
    def dlq_stream(self) -> str:
        return f"{self.stream_prefix}_DLQ"

    @property
    def input_filter(self) -> str:
        return f"{self.prefix}.in.>"

    def input(self, channel: str) -> str:
        return f"{self.prefix}.in.{channel}"

    def input_for(self, kind: str) -> str:
        """The subject a producer publishes an event of ``kind`` to."""
        return self.input(channel_for(kind))

    def effect(self, kind: str) -> str:
        return f"{self.prefix}.fx.{kind}"

    @property
    def effects_filter(self) -> str:
        return f"{self.prefix}.fx.>"

    def dlq(self, reason: str) -> str:
        return f"{self.prefix}.dlq.{reason}"

    @property
    def dlq_filter(self) -> str:
        return f"{self.prefix}.dlq.>"

    def channel_of(self, subject: str) -> str | None:
        head = f"{self.prefix}.in."
        return subject[len(head):] if subject.startswith(head) else None


# ------------------------------------------------------------------------------------------- input


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Why an input message is not applied (see the module docstring)."""

    reason: str
    error: str
    message: str
    code: str | None = None
    field: str | None = None

    @classmethod
    def from_error(cls, exc: BaseException) -> DeadLetter:
        """The dead letter of an engine refusal (or failure) ``exc``."""
        if isinstance(exc, EventFailed):
            return cls("failed", "EventFailed", exc.message, code=exc.cause)
        if isinstance(exc, Rejected):
            return cls("refused", "Rejected", str(exc), code=exc.reason)
        if isinstance(exc, (InvalidInput, UnknownEntity)):
            return cls("refused", type(exc).__name__, str(exc), field=exc.field)
        if isinstance(exc, RampartsError):
            return cls("refused", type(exc).__name__, str(exc))
        return cls("failed", type(exc).__name__, str(exc) or type(exc).__name__)


def decode_input(subjects: Subjects, subject: str, data: bytes) -> _Event | DeadLetter:
    """The event an input message carries, or the :class:`DeadLetter` saying why it carries none."""
    try:
        event = parse_event(data)
    except InvalidInput as exc:
        try:
            obj = json.loads(data)
        except (UnicodeDecodeError, ValueError) as bad:
            return DeadLetter("undecodable", type(bad).__name__, f"not UTF-8 JSON: {bad}")
        if not isinstance(obj, dict):
            return DeadLetter("invalid", "InvalidInput", f"event: expected a JSON object, got {type(obj).__name__}",
                              field="event")
        return DeadLetter("invalid", "InvalidInput", str(exc), field=exc.field)
    channel = subjects.channel_of(subject)
    allowed = CHANNELS.get(channel) if channel is not None else None
    if allowed is None:
        return DeadLetter("not_allowed", "InvalidInput", f"subject {subject!r} is not an input channel "
                          f"({', '.join(subjects.input(c) for c in CHANNELS)})", field="subject")
    if event.kind not in allowed:
        return DeadLetter("not_allowed", "InvalidInput", f"a {event.kind} may not be published on {subject} "
                          f"(publish it on {subjects.input_for(event.kind)})", field="kind")
    return event


def input_message(subjects: Subjects, event: _Event | dict, msg_id: str | None = None) -> tuple[str, bytes, dict[str, str]]:
    """``(subject, data, headers)`` for publishing ``event`` to the bus (what a producer sends)."""
    if isinstance(event, _Event):
        body = event.model_dump(mode="json")
    else:
        body = dict(event)
    headers = {"Nats-Msg-Id": msg_id} if msg_id else {}
    return subjects.input_for(str(body.get("kind", ""))), canonical_json(body).encode(), headers


# ------------------------------------------------------------------------------------------ output


def effect_message(subjects: Subjects, *, seq: int, index: int, ts: int, event_kind: str, stream_seq: int | None,
                   effect: dict, msg_id: str | None = None) -> tuple[str, bytes, dict[str, str]]:
    """``(subject, data, headers)`` of effect ``index`` of journal row ``seq``; ``msg_id`` (JetStream's
    de-duplication id) defaults to ``<prefix>:fx:<seq>:<index>``."""
    body = {"seq": seq, "index": index, "ts": ts, "event": event_kind, "stream_seq": stream_seq, "effect": effect}
    headers = {"Nats-Msg-Id": msg_id or f"{subjects.prefix}:fx:{seq}:{index}", "Ramparts-Seq": str(seq), "Ramparts-Index": str(index)}
    return subjects.effect(str(effect.get("kind", "Effect"))), canonical_json(body).encode(), headers


def dead_letter_message(subjects: Subjects, letter: DeadLetter, *, stream: str, stream_seq: int, subject: str,
                        data: bytes | None) -> tuple[str, bytes, dict[str, str]]:
    """``(subject, data, headers)`` of the dead letter of input ``stream_seq``."""
    body: dict[str, Any] = {"reason": letter.reason, "error": letter.error, "message": letter.message,
                            "stream": stream, "stream_seq": stream_seq, "subject": subject}
    if letter.code is not None:
        body["code"] = letter.code
    if letter.field is not None:
        body["field"] = letter.field
    if data is not None:
        try:
            body["data"] = data.decode("utf-8")
        except UnicodeDecodeError:
            body["data_b64"] = base64.b64encode(data).decode("ascii")
    headers = {"Nats-Msg-Id": f"{subjects.prefix}:dlq:{stream}:{stream_seq}", "Ramparts-Reason": letter.reason,
               "Ramparts-Stream-Seq": str(stream_seq)}
    return subjects.dlq(letter.reason), canonical_json(body).encode(), headers


__all__ = [
    "CHANNELS",
    "DLQ_REASONS",
    "DeadLetter",
    "Subjects",
    "channel_for",
    "dead_letter_message",
    "decode_input",
    "effect_message",
    "input_message",
]
