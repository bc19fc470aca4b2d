"""The live stream behind ``/v1/stream``: what was just journaled, pushed to WebSocket subscribers.

:class:`Hub` turns each committed batch into messages, in journal order, and fans them out to
every subscriber's bounded queue: a subscriber that falls ``maxsize`` messages behind (default
:data:`QUEUE_SIZE`) is dropped rather than buffered or allowed to slow the writer, and its socket is
closed with code :data:`CLOSE_TOO_SLOW` (4008) and a reason saying so (reconnect and catch up from
``/v1/events``). One key holds at most ``max_per_key`` subscriptions at once (default
:data:`MAX_PER_KEY`); one more is refused (:class:`~ramparts.service.auth.AuthError` 429
``too_many_streams``, the socket closed with 4429). Messages are JSON objects with a ``type``:

``price`` (an ``OraclePrice`` journaled), ``margin_call``, ``liquidation_step``,
``liquidation_ended``, ``bankruptcy``, ``deleverage``, ``insurance_fund_draw``,
``socialised_loss``, ``bad_debt``, ``funding``, ``settled`` (the effects), and ``commit`` (one per
transaction: the last ``seq`` and the number of events). Each carries ``seq`` and ``ts``.
A trader only receives prices, commits and the effects naming its own account.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from typing import Any

from ramparts.service.auth import AuthError, Principal

_SNAKE = re.compile(r"(?<!^)(?=[A-Z])")

#: Messages a subscriber may have waiting before it is dropped.
QUEUE_SIZE = 1024
#: WebSocket subscriptions one key may hold at once.
MAX_PER_KEY = 8
#: The close code of a subscriber dropped for falling behind.
CLOSE_TOO_SLOW = 4008


def effect_type(kind: str) -> str:
    return _SNAKE.sub("_", kind).lower()


def messages(events: list[dict], outcomes: list) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    last = None
    accepted = 0
    for ev, o in zip(events, outcomes, strict=True):
        if not o.accepted:
            continue
        accepted += 1
        last = o.seq
        base = {"seq": o.seq, "ts": ev.get("ts")}
        if ev.get("kind") == "OraclePrice":
            out.append({"type": "price", **base, "instrument": ev.get("instrument"), "price": str(ev.get("price"))})
        for fx in o.effects or ():
            out.append({"type": effect_type(fx.get("kind", "effect")), **base, **{k: v for k, v in fx.items() if k != "kind"}})
    if last is not None:
        out.append({"type": "commit", "seq": last, "events": accepted})
    return out


def visible(principal: Principal, msg: dict) -> bool:
    if principal.role != "trader":
        return True
    if msg["type"] in ("price", "commit"):
        return True
    return any(principal.owns(msg.get(k)) for k in ("subaccount", "counterparty"))


class Dropped:
    """The last item of a dropped subscriber's queue: why its socket is closed."""

    def __init__(self, code: int, reason: str):
        self.code, self.reason = code, reason


class Hub:
    """Fans committed messages out to subscribers (one bounded asyncio queue each)."""

    def __init__(self, maxsize: int = QUEUE_SIZE, max_per_key: int = MAX_PER_KEY):
        if maxsize < 1 or max_per_key < 1:
            raise ValueError("maxsize and max_per_key must be at least 1")
        self.maxsize, self.max_per_key = maxsize, max_per_key
        self._subs: dict[asyncio.Queue, Principal] = {}
        self._per_key: Counter[str] = Counter()

    def subscribe(self, principal: Principal) -> asyncio.Queue:
        """A queue for ``principal``; raises :class:`AuthError` 429 when its key holds ``max_per_key`` already."""
        if self._per_key[principal.key_id] >= self.max_per_key:
            raise AuthError(429, "too_many_streams", f"key {principal.key_id} already holds {self.max_per_key} streams "
                                                     "(the most one key may hold at once); close one first")
        q: asyncio.Queue = asyncio.Queue(self.maxsize + 1)  # + 1: room for the Dropped notice
        self._subs[q] = principal
        self._per_key[principal.key_id] += 1
        return q

    def _release(self, q: asyncio.Queue) -> None:
        principal = self._subs.pop(q, None)
        if principal is not None:
            self._per_key[principal.key_id] -= 1
            if self._per_key[principal.key_id] <= 0:
                del self._per_key[principal.key_id]

    def unsubscribe(self, q: asyncio.Queue) -> None:
        self._release(q)

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def publish(self, msgs: list[dict]) -> None:
        if not msgs or not self._subs:
            return
        for q, principal in list(self._subs.items()):
            for m in msgs:
                if not visible(principal, m):
                    continue
                if q.qsize() >= self.maxsize:  # too slow: drop it; the notice tells its socket to close
                    self._release(q)
                    while not q.empty():
                        q.get_nowait()
                    q.put_nowait(Dropped(CLOSE_TOO_SLOW, f"too slow: more than {self.maxsize} messages behind; "
                                                         "reconnect and catch up from /v1/events"))
                    break
                q.put_nowait(m)


__all__ = ["CLOSE_TOO_SLOW", "MAX_PER_KEY", "QUEUE_SIZE", "Dropped", "Hub", "effect_type", "messages", "visible"]
