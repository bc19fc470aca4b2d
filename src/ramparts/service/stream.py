"""The live stream behind ``/v1/stream``: what was just journaled, pushed to WebSocket subscribers.

:class:`Hub` turns each committed batch into messages, in journal order, and fans them out to
every subscriber's bounded queue (a subscriber that falls ``maxsize`` messages behind is dropped
rather than slowing the writer). Messages are JSON objects with a ``type``:

``price`` (an ``OraclePrice`` journaled), ``margin_call``, ``liquidation_step``,
``liquidation_ended``, ``bankruptcy``, ``deleverage``, ``insurance_fund_draw``,
``socialised_loss``, ``bad_debt``, ``funding``, ``settled`` (the effects), and ``commit`` (one per
transaction: the last ``seq`` and the number of events). Each carries ``seq`` and ``ts``.
A trader only receives prices, commits and the effects naming its own account.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from ramparts.service.auth import Principal

_SNAKE = re.compile(r"(?<!^)(?=[A-Z])")


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


class Hub:
    """Fans committed messages out to subscribers (one bounded asyncio queue each)."""

    def __init__(self, maxsize: int = 10_000):
        self.maxsize = maxsize
        self._subs: dict[asyncio.Queue, Principal] = {}

    def subscribe(self, principal: Principal) -> asyncio.Queue:
        q: asyncio.Queue = asyncio.Queue(self.maxsize)
        self._subs[q] = principal
        return q

    def unsubscribe(self, q: asyncio.Queue) -> None:
        self._subs.pop(q, None)

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
                try:
                    q.put_nowait(m)
                except asyncio.QueueFull:  # too slow: drop the subscriber; None tells its socket to close
                    self._subs.pop(q, None)
                    while not q.empty():
                        q.get_nowait()
                    q.put_nowait(None)
                    break


__all__ = ["Hub", "effect_type", "messages", "visible"]
