"""The read routes of the risk dashboard (``/v1/risk/*``, ``/v1/history``, ``/v1/dashboard``) and what
every read route shares: answering from a published view.

This module owns the router of the routes below, their response models, :func:`answer` (a route's
answer computed from a view, on a read thread, never the writer's), :class:`SeqHeader` (the
``X-Ramparts-Seq`` header: the seq every read reflects) and :func:`document_reads` (the
``min_seq`` parameter, the 425 answer and that header in the OpenAPI schema of the read routes of
:mod:`ramparts.service.api`, whose signatures do not declare them).

* ``GET /v1/risk/nearest``: the sub-accounts with positions nearest liquidation, lowest equity /
  maintenance first;
* ``GET /v1/risk/liquidating``: the liquidation queue proper, sub-accounts in liquidation (or bankrupt);
* ``GET /v1/risk/adl``: every market's auto-deleveraging queue, both sides, in the engine's own order
  (:func:`~ramparts.liquidation.waterfall.adl_ranking`);
* ``GET /v1/risk/histogram``: sub-accounts by margin ratio, with those holding no position;
* ``GET /v1/history``: effect counters, index prices per market and the insurance funds, from the
  journal (:mod:`ramparts.service.history`);
* ``GET /v1/dashboard``: everything the dashboard shows from one view, with the latest state hash
  known and the seq it belongs to (it never waits for a hash).

Every answer states its ``seq`` (in the body and in ``X-Ramparts-Seq``); ``?min_seq=`` works as on
every read (see :mod:`ramparts.service.readview`). The auditor (and the risk officer) may read them
all; liquidators the queues.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from ramparts.service import models as m
from ramparts.service import readview as rv
from ramparts.service.api import ERRORS, need
from ramparts.service.auth import Principal

router = APIRouter(prefix="/v1")

#: The read routes of :mod:`ramparts.service.api` served from views: ``min_seq``, 425 and the seq header are added to their schema.
VIEW_READS = ("/v1/subaccounts", "/v1/subaccounts/{account}/{sub}", "/v1/liquidations/queue", "/v1/insurance", "/v1/markets",
              "/v1/open-interest", "/v1/markets/{symbol}/adl", "/v1/state", "/v1/breakers", "/v1/overview")
SEQ_HEADER = "X-Ramparts-Seq"
MIN_SEQ_DOC = ("the least seq the answer must reflect; default: the last seq committed when the request arrived (every "
               "write acknowledged before it is seen); 0: whatever view is published, without waiting. A seq not committed "
               "within a second is 425 seq_not_committed")
TOO_EARLY_DOC = ("seq_not_committed: min_seq is beyond the last committed seq; view_pending: no view at that seq came in "
                 "time. Retry-After says when to retry")
READ_ERRORS: dict[int | str, dict[str, Any]] = {**ERRORS, 425: {"model": m.ErrorBody, "description": TOO_EARLY_DOC}}
_MIN_SEQ = Query(None, ge=0, le=rv.MAX_SEQ, description=MIN_SEQ_DOC)


# ------------------------------------------------------------------------------------------- shared by every read
def _svc(request: Request):
    return request.app.state.svc


def _limiter(svc):
    """The read threads (at most 2 at once: a read's Python shares the GIL with the writer)."""
    import anyio

    loop = asyncio.get_running_loop()
    held = getattr(svc, "_read_limiter", None)
    if held is None or held[0] is not loop:
        held = svc._read_limiter = (loop, anyio.CapacityLimiter(2))
    return held[1]


def _stamp(request: Request, seq: int) -> None:
    request.scope.setdefault("state", {})["read_seq"] = seq


async def view_of(request: Request, min_seq: int | None = None) -> rv.ReadView:
    """The view a read answers from: ``?min_seq=`` (or ``min_seq``), default the last commit."""
    if min_seq is None:
        min_seq = rv.parse_min_seq(request.query_params.get("min_seq"))
    view = await _svc(request).reads.view_at(min_seq)
    _stamp(request, view.seq)
    return view


async def hashed_of(request: Request, min_seq: int | None = None) -> rv.Hashed:
    """The state hash (and the view it belongs to) a read answers from."""
    if min_seq is None:
        min_seq = rv.parse_min_seq(request.query_params.get("min_seq"))
    h = await _svc(request).reads.hashed_at(min_seq)
    _stamp(request, h.seq)
    return h


async def compute(request: Request, fn, *args: Any) -> Any:
    """``fn(*args)`` on a read thread."""
    import anyio

    return await anyio.to_thread.run_sync(fn, *args, limiter=_limiter(_svc(request)))


async def answer(request: Request, fn, *args: Any, min_seq: int | None = None) -> Any:
    """``fn(view, *args)`` for the view of this request, on a read thread."""
    view = await view_of(request, min_seq)
    return await compute(request, fn, view, *args)


def overview(h: rv.Hashed, counters: dict) -> dict[str, Any]:
    """``/v1/overview``: the hashed view's state, accounts, histogram, queue, funds, markets, breakers."""
    v = h.view
    return {**h.state(), "accounts": rv.account_count(v), "ratio_histogram": rv.ratio_histogram(v), "queue": rv.queue(v, 200),
            "insurance": rv.insurance(v), "markets": rv.markets(v), "breakers": rv.breakers(v), "counters": counters}


class SeqHeader:
    """ASGI middleware: a read's answer carries ``X-Ramparts-Seq``, the seq of the view it came from."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)

        async def sending(message):
            if message["type"] == "http.response.start":
                seq = scope.get("state", {}).get("read_seq")
                if seq is not None:
                    message = {**message, "headers": [*message.get("headers", []), (SEQ_HEADER.lower().encode(), str(seq).encode())]}
            await send(message)

        await self.app(scope, receive, sending)


def document_reads(app) -> None:
    """Add ``min_seq``, the 425 answer and ``X-Ramparts-Seq`` to the schema of :data:`VIEW_READS`."""
    base = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = base()
        for path, item in schema.get("paths", {}).items():
            op = item.get("get")
            if op is None or not path.startswith("/v1/"):
                continue
            if path in VIEW_READS:
                params = op.setdefault("parameters", [])
                if not any(p.get("name") == "min_seq" for p in params):
                    params.append({"name": "min_seq", "in": "query", "required": False, "description": MIN_SEQ_DOC,
                                   "schema": {"type": "integer", "minimum": 0, "maximum": rv.MAX_SEQ}})
                op.setdefault("responses", {}).setdefault("425", {
                    "description": TOO_EARLY_DOC, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}})
            if path in VIEW_READS or path in _OWN:
                ok = op.get("responses", {}).get("200")
                if ok is not None:
                    ok.setdefault("headers", {})[SEQ_HEADER] = {"description": "the seq the answer reflects", "schema": {"type": "integer"}}
        return schema

    app.openapi = openapi


# ------------------------------------------------------------------------------------------- models
class NearestEntry(m.AccountSummary):
    equity_to_maintenance: float = Field(description="equity / maintenance margin: liquidatable below 1")


class NearestView(BaseModel):
    seq: int
    accounts: list[NearestEntry] = Field(description="sub-accounts with positions, lowest equity / maintenance first")


class LiquidatingView(BaseModel):
    seq: int
    accounts: list[m.AccountSummary] = Field(description="in liquidation or bankrupt: bankrupt first, then by margin ratio")


class AdlQueue(BaseModel):
    instrument: str
    longs: list[m.AdlEntry] = Field(description="deleveraged in this order against a bankrupt short")
    shorts: list[m.AdlEntry] = Field(description="deleveraged in this order against a bankrupt long")
    longs_total: int
    shorts_total: int


class AdlQueues(BaseModel):
    seq: int
    markets: list[AdlQueue]


class HistogramView(BaseModel):
    seq: int
    accounts: int = Field(description="sub-accounts (system accounts excluded)")
    buckets: dict[str, int] = Field(description="maintenance / equity buckets; 'bankrupt': equity <= 0 with a position; "
                                                "'no positions': accounts holding none")


class PricePoint(BaseModel):
    seq: int
    ts: int
    price: str


class FundPoint(BaseModel):
    seq: int
    ts: int
    funds: dict[str, str]
    total: str


class HistoryView(BaseModel):
    """Counters and series from the journal (see :mod:`ramparts.service.history`)."""

    seq: int = Field(description="the last journaled seq folded in")
    ready: bool = Field(description="false while the series are being rebuilt from the journal after a start")
    rebuilt_to_seq: int = Field(description="the series up to this seq were read back from the journal at start")
    asset: str
    counters: dict[str, int] = Field(description="effects journaled since the journal began, by kind")
    prices: dict[str, list[PricePoint]] = Field(description="index price points per market, oldest first")
    insurance: list[FundPoint] = Field(description="insurance fund balances after each event that moved one")
    mismatches: int = Field(description="times the funds folded from the journal differed from the engine's (then taken)")


class StateRef(BaseModel):
    seq: int
    time_ns: int
    state_hash: str


class DashboardView(BaseModel):
    """Everything the dashboard shows, from one view (``seq``)."""

    seq: int
    time_ns: int
    accounts: int
    ratio_histogram: dict[str, int]
    queue: list[m.AccountSummary]
    liquidating: list[m.AccountSummary]
    nearest: list[NearestEntry]
    adl: list[AdlQueue]
    insurance: m.InsuranceView
    markets: list[m.MarketView]
    breakers: m.BreakerView
    counters: dict[str, int]
    state: StateRef | None = Field(description="the latest state hash computed, with the seq it belongs to (may be older "
                                               "than seq: the dashboard never waits for one); null before the first")


# ------------------------------------------------------------------------------------------- routes
@router.get("/risk/nearest", response_model=NearestView, responses=READ_ERRORS, tags=["risk"])
async def nearest(request: Request, limit: int = Query(20, ge=1, le=1000), min_seq: int | None = _MIN_SEQ,
                  p: Principal = Depends(need("read_queue"))):
    """The sub-accounts with positions nearest liquidation: lowest equity / maintenance margin first
    (below 1: liquidatable), with their state."""
    view = await view_of(request, min_seq)
    return {"seq": view.seq, "accounts": await compute(request, rv.nearest, view, limit)}


@router.get("/risk/liquidating", response_model=LiquidatingView, responses=READ_ERRORS, tags=["risk"])
async def liquidating(request: Request, min_seq: int | None = _MIN_SEQ, p: Principal = Depends(need("read_queue"))):
    """The liquidation queue: sub-accounts in liquidation or bankrupt (``/v1/liquidations/queue`` also lists
    those only margin-called)."""
    view = await view_of(request, min_seq)
    return {"seq": view.seq, "accounts": await compute(request, rv.liquidating, view)}


@router.get("/risk/adl", response_model=AdlQueues, responses=READ_ERRORS, tags=["risk"])
async def adl_queues(request: Request, limit: int = Query(20, ge=1, le=10_000), min_seq: int | None = _MIN_SEQ,
                     p: Principal = Depends(need("read_queue"))):
    """Every market's auto-deleveraging queue, both sides, first ``limit`` of each: the engine's own
    ranking (profit % × leverage, highest first; ``/v1/markets/{symbol}/adl`` gives one market whole)."""
    view = await view_of(request, min_seq)

    def build() -> list[dict]:
        return [rv.adl(view, i.symbol, limit) for i in view.instruments]

    return {"seq": view.seq, "markets": await compute(request, build)}


@router.get("/risk/histogram", response_model=HistogramView, responses=READ_ERRORS, tags=["risk"])
async def histogram(request: Request, min_seq: int | None = _MIN_SEQ, p: Principal = Depends(need("read_all"))):
    """Sub-accounts by margin ratio (maintenance / equity), those bankrupt, and those holding no position."""
    view = await view_of(request, min_seq)
    buckets = await compute(request, rv.ratio_histogram, view)
    return {"seq": view.seq, "accounts": rv.account_count(view), "buckets": buckets}


@router.get("/history", response_model=HistoryView, responses=ERRORS, tags=["dashboard"])
async def history(request: Request, after_seq: int = Query(0, ge=0, le=rv.MAX_SEQ, description="only points after this seq"),
                  points: int = Query(2000, ge=1, le=5000, description="the last points of each series at most"),
                  p: Principal = Depends(need("read_all"))):
    """Effect counters since the journal began, index prices per market and insurance fund balances:
    kept from the journal, so a restart loses none of it (``ready`` is false while it is being read back)."""
    svc = _svc(request)
    view = svc.reads.view
    out = svc.history.view(None if view is None else view.settlement, after_seq, points)  # on the loop: it alone changes them
    _stamp(request, out["seq"])
    return out


@router.get("/dashboard", response_model=DashboardView, responses=READ_ERRORS, tags=["dashboard"])
async def dashboard(request: Request, min_seq: int | None = _MIN_SEQ, limit: int = Query(20, ge=1, le=200),
                    p: Principal = Depends(need("read_all"))):
    """Everything the dashboard shows, from one view: accounts, margin-ratio histogram (with the
    accounts holding no position), the queues (breach, liquidation, nearest, ADL), funds, markets,
    breakers, the counters from the journal, and the latest state hash with its own seq."""
    svc = _svc(request)
    view = await view_of(request, min_seq)

    def build() -> dict:
        return {"seq": view.seq, "time_ns": view.time_ns, "accounts": rv.account_count(view),
                "ratio_histogram": rv.ratio_histogram(view), "queue": rv.queue(view, 200), "liquidating": rv.liquidating(view, 200),
                "nearest": rv.nearest(view, limit), "adl": [rv.adl(view, i.symbol, limit) for i in view.instruments],
                "insurance": rv.insurance(view), "markets": rv.markets(view), "breakers": rv.breakers(view)}

    out = await compute(request, build)
    out["counters"] = dict(svc.counters)
    h = svc.reads.hashed
    out["state"] = None if h is None else h.state()
    return out


_OWN = ("/v1/risk/nearest", "/v1/risk/liquidating", "/v1/risk/adl", "/v1/risk/histogram", "/v1/history", "/v1/dashboard")

__all__ = ["SEQ_HEADER", "VIEW_READS", "SeqHeader", "answer", "compute", "document_reads", "hashed_of", "overview", "router",
           "view_of"]
