"""The service's time series: effect counters, index prices per market and the insurance funds,
kept from the journal so that a restart loses nothing the dashboard shows.

This module owns :class:`History`. Every point comes from one journaled event, through one
function (:meth:`History.ingest`) whether the event was just committed (the writer's commit
listener) or read back from the journal at start (:meth:`History.rebuild`), so the series after a
restart are the series before it:

* **counters**: the effects of every journaled event, by kind (:data:`COUNTED`), since the journal
  began;
* **prices**: each market's index price, one point per event that set it: an accepted
  ``OraclePrice`` (its price, rounded as the engine rounds it), an ``OracleQuotes`` whose
  aggregated reading was used (its ``OracleReading`` effect), each accepted price item of a
  ``TradeBatch`` (at the item's own time), a ``Settled`` effect;
* **insurance**: the insurance funds' balances, one point per event that moved one. The funds move
  only by ``FundInsurance`` events (in), the ``to_insurance`` of ``LiquidationStep`` effects (in)
  and ``InsuranceFundDraw`` effects (out); each live commit is checked against the engine's own
  balances after it, and the rebuilt series against the engine at start: a difference is logged,
  counted (``mismatches``) and the engine's figure taken.

Each series keeps its last ``points`` points (default 5,000). The rebuild reads the whole journal
(only the rows that can matter are decoded: about a second per 400,000 rows) on the read side's
own journal connection, after the service started; events committed meanwhile wait in order and
are ingested after it (``ready`` says when it is done). The series change on the event loop only
(the commit listener, :meth:`History.adopt`), and are read there (:meth:`History.view`).
"""

from __future__ import annotations

import bisect
import json
import logging
from collections import Counter, deque
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

log = logging.getLogger("ramparts.service")

#: The effects counted (the dashboard's liquidation activity).
COUNTED = ("MarginCall", "LiquidationStep", "LiquidationEnded", "Bankruptcy", "Deleverage", "InsuranceFundDraw", "SocialisedLoss",
           "BadDebt")
#: Event kinds whose payload sets a price or moves a fund.
_PAYLOAD_KINDS = frozenset({"OraclePrice", "TradeBatch", "FundInsurance"})
#: Effect kinds read (besides the counted ones): a journal row whose effects name none is not decoded.
_EFFECT_KINDS = frozenset(COUNTED) | {"OracleReading", "Settled", "Rejected"}
_EFFECT_MARKERS = tuple(f'"kind":"{k}"' for k in sorted(_EFFECT_KINDS))
POINTS = 5000


class Meta:
    """What turning journal rows into points needs: the instruments (by symbol) and the settlement asset."""

    def __init__(self, instruments: Iterable[Any], settlement: Any):
        self.instruments = {i.symbol: i for i in instruments}
        self.settlement = settlement

    def fund_of(self, symbol: str) -> str:
        instr = self.instruments.get(symbol)
        return symbol if instr is not None and instr.insurance_fund == "market" else "global"


class History:
    """The counters and series (see the module docstring). Used on the event loop; the rebuild
    runs on the journal reader's thread into a History of its own, merged by :meth:`adopt`."""

    def __init__(self, points: int = POINTS):
        self.points = points
        self.counters: Counter[str] = Counter({k: 0 for k in COUNTED})
        self.prices: dict[str, deque] = {}
        self.insurance: deque = deque(maxlen=points)
        self.funds: dict[str, int] = {"global": 0}
        self.seq = 0
        self.ready = False
        self.rebuilt_to = 0
        self.mismatches = 0
        self._pending: list[tuple] = []
        self._meta: Meta | None = None

    # -- one event -------------------------------------------------------------------------------------
    def ingest(self, seq: int, ts: int, kind: str, payload: dict | None, effects: list[dict], meta: Meta) -> None:
        """Fold one journaled event (``payload`` may be None when ``kind`` is not in :data:`_PAYLOAD_KINDS`)."""
        if seq <= self.seq:
            return
        self.seq = seq
        for fx in effects:
            k = fx.get("kind")
            if k in self.counters:
                self.counters[k] += 1
        try:
            self._prices(seq, ts, kind, payload, effects, meta)
        except Exception:  # noqa: BLE001 - a point that cannot be read is skipped, never fails the rest
            log.exception("history: no price point from event %d", seq)
        moved: dict[str, int] = {}
        if kind == "FundInsurance" and payload is not None and meta.settlement is not None:
            fund = payload.get("fund") or "global"
            moved[fund] = moved.get(fund, 0) + meta.settlement.units(payload["amount"])
        for fx in effects:
            k = fx.get("kind")
            if k == "LiquidationStep" and fx.get("to_insurance"):
                fund = meta.fund_of(fx.get("instrument", ""))
                moved[fund] = moved.get(fund, 0) + int(fx["to_insurance"])
            elif k == "InsuranceFundDraw" and fx.get("amount"):
                fund = str(fx.get("fund", "insurance:global")).split(":", 1)[-1]
                moved[fund] = moved.get(fund, 0) - int(fx["amount"])
        if moved:
            for fund, units in moved.items():
                self.funds[fund] = self.funds.get(fund, 0) + units
            self.insurance.append((seq, ts, dict(self.funds)))

    def _prices(self, seq: int, ts: int, kind: str, payload: dict | None, effects: list[dict], meta: Meta) -> None:
        if kind == "OraclePrice" and payload is not None:
            instr = meta.instruments.get(payload.get("instrument"))
            if instr is not None:
                self._point(instr.symbol, seq, ts, instr.price(instr.lot_price(payload["price"], on_tick=False)))
        elif kind == "TradeBatch" and payload is not None and "P" in payload.get("item_kind", ""):
            rejected = {fx.get("item") for fx in effects if fx.get("kind") == "Rejected"}
            symbols, times = payload["instruments"], payload["time"]
            for k, c in enumerate(payload["item_kind"]):
                if c != "P" or k in rejected:
                    continue
                instr = meta.instruments.get(symbols[payload["instrument"][k]])
                if instr is not None:
                    self._point(instr.symbol, seq, int(times[k]), instr.price(int(payload["price"][k]) * instr.tick_units))
        for fx in effects:
            k = fx.get("kind")
            if k == "OracleReading" and fx.get("used_for_margin") and fx.get("valid"):
                instr = meta.instruments.get(fx.get("instrument"))
                if instr is not None:
                    self._point(instr.symbol, seq, ts, instr.price(int(fx["index"])))
            elif k == "Settled":
                self._point(fx["instrument"], seq, ts, Decimal(str(fx["price"])))

    def _point(self, symbol: str, seq: int, ts: int, price: Decimal) -> None:
        series = self.prices.get(symbol)
        if series is None:
            series = self.prices[symbol] = deque(maxlen=self.points)
        series.append((seq, ts, price))

    # -- live commits ------------------------------------------------------------------------------------
    def commit(self, events: list[dict], outcomes: list, meta: Meta | None, funds: dict[str, int] | None = None) -> None:
        """Fold a committed batch (the writer's listener, on the event loop); ``funds`` is the
        engine's insurance balances after it (checked). Waits in order while the rebuild runs.
        Without ``meta`` (the writer's statistics failed) the last one serves."""
        meta = self._meta = meta or self._meta or Meta((), None)
        rows = [(o.seq, ev.get("ts"), ev.get("kind"), ev, list(o.effects or ())) for ev, o in zip(events, outcomes, strict=True)
                if o.accepted]
        if not self.ready:
            self._pending.append((rows, meta, funds))
            return
        self._fold(rows, meta, funds)

    def _fold(self, rows: list[tuple], meta: Meta, funds: dict[str, int] | None) -> None:
        for seq, ts, kind, payload, effects in rows:
            self.ingest(seq, ts or 0, kind, payload if kind in _PAYLOAD_KINDS else None, effects, meta)
        if funds is not None and rows:
            self.check(funds, rows[-1][0], rows[-1][1] or 0)

    def check(self, funds: dict[str, int], seq: int, ts: int) -> None:
        """Compare the funds with the engine's at ``seq``; on a difference take the engine's figures."""
        mine = {k: v for k, v in self.funds.items() if v}
        truth = {k: int(v) for k, v in funds.items() if v}
        if mine != truth:
            self.mismatches += 1
            log.warning("history: insurance funds %s differ from the engine's %s at seq %d; taking the engine's", mine, truth, seq)
            self.funds = {"global": 0, **{k: int(v) for k, v in funds.items()}}
            self.insurance.append((seq, ts, dict(self.funds)))

    # -- the rebuild -----------------------------------------------------------------------------------
    @classmethod
    def rebuild(cls, journal, to_seq: int, meta: Meta, funds: dict[str, int] | None, points: int = POINTS) -> History:
        """A History of journal rows 1 … ``to_seq`` (on the journal reader's thread), checked against
        the engine's ``funds`` at ``to_seq``."""
        h = cls(points)
        if to_seq > 0:
            for rec in journal.read(1, to_seq):
                kind, text = rec.kind, rec.effects
                effects = json.loads(text) if text != "[]" and any(m in text for m in _EFFECT_MARKERS) else []
                payload = json.loads(rec.payload) if kind in _PAYLOAD_KINDS else None
                h.ingest(rec.seq, rec.ts, kind, payload, effects, meta)
        h.seq = max(h.seq, to_seq)
        h.rebuilt_to = to_seq
        if funds is not None:
            h.check(funds, to_seq, journal_ts(h))
        return h

    def adopt(self, rebuilt: History) -> None:
        """Take the rebuilt series, then fold the commits that arrived meanwhile (event loop)."""
        self.counters, self.prices, self.insurance = rebuilt.counters, rebuilt.prices, rebuilt.insurance
        self.funds, self.seq, self.rebuilt_to = rebuilt.funds, rebuilt.seq, rebuilt.rebuilt_to
        self.mismatches += rebuilt.mismatches
        pending, self._pending = self._pending, []
        self.ready = True
        for rows, meta, funds in pending:
            self._fold(rows, meta, funds)

    # -- reading ---------------------------------------------------------------------------------------
    def view(self, settlement: Any, after_seq: int = 0, points: int = POINTS) -> dict[str, Any]:
        """The counters and the points after ``after_seq`` (the last ``points`` of each series). On the
        event loop, which alone changes the series (a thread iterating a deque while it grows fails)."""
        def tail(series) -> list:
            pts = list(series)
            first = bisect.bisect_right(pts, after_seq, key=lambda p: p[0])  # seqs only grow along a series
            return pts[max(first, len(pts) - points):]

        amt = (lambda u: str(settlement.amount(int(u)))) if settlement is not None else str
        insurance = [{"seq": s, "ts": ts, "funds": {k: amt(v) for k, v in funds.items()}, "total": amt(sum(funds.values()))}
                     for s, ts, funds in tail(self.insurance)]
        return {
            "seq": self.seq,
            "ready": self.ready,
            "rebuilt_to_seq": self.rebuilt_to,
            "asset": "" if settlement is None else settlement.symbol,
            "counters": dict(self.counters),
            "prices": {sym: [{"seq": s, "ts": ts, "price": str(p)} for s, ts, p in tail(series)] for sym, series in sorted(self.prices.items())},
            "insurance": insurance,
            "mismatches": self.mismatches,
        }


def journal_ts(h: History) -> int:
    """The time of the last point of ``h`` (0 without one): the time given to a correcting point."""
    last = [s[-1][1] for s in h.prices.values() if s] + ([h.insurance[-1][1]] if h.insurance else [])
    return max(last, default=0)


__all__ = ["COUNTED", "POINTS", "History", "Meta"]
