"""The versioned REST routes of the risk service (``/v1``).

Writes become journal events and are acknowledged (201, or 200 with per-fill outcomes for a fill
batch) only after the node journaled them; reads are answered from published views, never on the
writer thread (:mod:`ramparts.service.readview`: each states its seq in ``X-Ramparts-Seq``, reflects
every write acknowledged before it unless ``?min_seq=`` asks otherwise). Every
route names the action it needs (:data:`ramparts.service.auth.PERMISSIONS`); a trader is further
confined to its own account's sub-accounts. The key comes from the ``X-API-Key`` or
``Authorization: Bearer`` header only (``?key=`` is a 401 ``key_in_url``); ``POST /v1/tickets``
turns it into a single-use ticket for the WebSocket stream. Every role of
:data:`~ramparts.service.auth.ROLES`, ``sequencer`` included, can be given a key through
``POST /v1/keys`` by a risk officer (none is held back). The ``responses`` of each route document
every status it may answer: :data:`ERRORS` for reads, :data:`WRITE_ERRORS` (also 413) for routes
with a body.

The contract is the OpenAPI schema (:mod:`ramparts.service.models` states every pattern and bound): a
request it allows is never refused as malformed. 422 means the request breaks the schema; what only
the venue's state can decide (an instrument's tick grid, an asset's decimals, the engine's time, the
clock skew, a parameter's value) is refused by the engine with 409 ``invalid_input`` naming the
``field`` (:func:`_state_refusal`), an unknown entity with 404, a risk rule with 409 and its reason.
``OPTIONS`` on a path answers 204 with ``Allow`` listing its documented methods, any other
undocumented method 405 with the same ``Allow``.

Money crosses the venue's boundary only through custody (:mod:`ramparts.service.custody`): a
``custody`` or ``risk_officer`` key posts ``/v1/deposits`` and ``/v1/withdrawals`` (a custody key up
to the custody cap per request, 403 ``over_custody_cap`` above it), journaled against the ledger
account ``external`` (``GET /v1/custody``); a trader *requests* one (``POST /v1/custody/requests``),
custody confirms it (``POST /v1/custody/requests/{request_id}/confirm``: the journaled event) or
rejects it, the trader may cancel it.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from ramparts.errors import InvalidInput, UnknownEntity
from ramparts.service import custody
from ramparts.service import models as m
from ramparts.service.auth import AuthError, Principal
from ramparts.service.guard import token_of
from ramparts.service.hot import HotRoute
from ramparts.service.ingest import batch_event

router = APIRouter(prefix="/v1")

_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="rk_<key_id>_<secret> (never in the URL)")
_bearer = HTTPBearer(auto_error=False)

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": m.ErrorBody, "description": text}
    for code, text in (
        (400, "a malformed request: an unreadable body (not JSON, or nested too deep) or Content-Length"),
        (401, "missing, unknown or revoked API key, or a key in the URL (key_in_url: send the X-API-Key header)"),
        (403, "the key's role may not do this, a trader touched another account, or a custody key went over the "
              "custody cap (over_custody_cap)"),
        (404, "unknown instrument, asset, sub-account, key or request"),
        (409, "refused by the venue's rules or state: error = the engine's reason (initial_margin, free_collateral, "
              "duplicate, ...), or invalid_input with the field a schema-valid value the venue's state refuses (off the "
              "tick grid or the asset's decimals, a ts before the engine's time or beyond the clock skew, a parameter "
              "the engine does not take), or journal_conflict: the journal moved on under the service (nothing "
              "stored; retry)"),
        (422, "the request breaks this schema (field names the culprit), or event_failed: the engine met a defect "
              "applying it (nothing stored)"),
        (429, "rate limit of the key exceeded (rate_limited), or too many failed authentications from this client or "
              "for this key id (auth_throttled); Retry-After says when to retry"),
        (503, "the journal or the key store is unavailable"),
    )
}
#: The responses of a route that takes a body: also 413.
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS, 413: {"model": m.ErrorBody, "description": "the request body is larger than the service's --max-body-bytes"},
}


def _ref(path: str, method: str) -> str:
    return "#/paths/" + path.replace("~", "~0").replace("/", "~1") + "/" + method


def _links(status: int, links: dict[str, tuple[str, str, dict[str, str]]]) -> dict[int | str, dict[str, Any]]:
    """:data:`WRITE_ERRORS` and OpenAPI links from this route's ``status`` answer to the operations it creates a
    resource for (``name: (path, method, parameters)``), so a client (and schemathesis' stateful tests) can follow them."""
    return {**WRITE_ERRORS, status: {"links": {name: {"operationRef": _ref(path, method), "parameters": params}
                                              for name, (path, method, params) in links.items()}}}


_REQUEST = {"request_id": "$response.body#/request_id"}
CASH_REQUEST_LINKS = _links(201, {
    "GetCashRequest": ("/v1/custody/requests/{request_id}", "get", _REQUEST),
    "ConfirmCashRequest": ("/v1/custody/requests/{request_id}/confirm", "post", _REQUEST),
    "RejectCashRequest": ("/v1/custody/requests/{request_id}/reject", "post", _REQUEST),
    "CancelCashRequest": ("/v1/custody/requests/{request_id}/cancel", "post", _REQUEST),
})
KEY_LINKS = _links(201, {"RevokeKey": ("/v1/keys/{key_id}", "delete", {"key_id": "$response.body#/key_id"})})
INSTRUMENT_LINKS = _links(201, {"AdlRanking": ("/v1/markets/{symbol}/adl", "get", {"symbol": "$request.body#/symbol"})})


def _svc(request: Request):
    return request.app.state.svc


async def _token(request: Request, h: str | None = Security(_header),
                 b: HTTPAuthorizationCredentials | None = Security(_bearer)) -> str | None:
    return token_of(h, None if b is None else f"Bearer {b.credentials}", "key" in request.query_params)


def need(action: str):
    async def dependency(request: Request, token: str | None = Depends(_token)) -> Principal:
        return await _svc(request).principal(token, action, client=request.client.host if request.client else None)

    dependency.__name__ = f"need_{action}"
    return dependency


def _own(p: Principal, subaccount: str, field: str = "subaccount") -> None:
    if p.role == "trader" and not p.owns(subaccount):
        raise AuthError(403, "forbidden", f"{field} {subaccount!r} is not an account of this key ({p.account}/*)")


def _event(kind: str, req: m._Req, **extra: Any) -> dict:
    d = req.model_dump()
    if d.get("ts") is None:
        d.pop("ts", None)
    d.update(extra)
    d["kind"] = kind
    return d


def _state_refusal(exc: BaseException) -> BaseException:
    """An :class:`InvalidInput` raised past the schema (by the writer or the engine) refuses a value the schema
    allows, for a reason of the venue's state: 409, not 422 (see the module docstring)."""
    if isinstance(exc, InvalidInput):
        exc.status = 409
    return exc


async def _submit_to(svc, event: dict) -> m.EventAck:
    out = (await svc.writer.submit([event]))[0]
    if out.error is not None:
        raise _state_refusal(out.error)
    return m.EventAck(seq=out.seq, ts=event["ts"], kind=event["kind"], effects=out.effects)


async def _submit_one(request: Request, event: dict) -> m.EventAck:
    return await _submit_to(_svc(request), event)


async def _submit_price(svc, event: dict) -> m.EventAck:
    """Submit a price event and record its tick-to-decision latency (margin calls decided and journaled)."""
    t0 = time.perf_counter()
    ack = await _submit_to(svc, event)
    svc.metrics.tick_to_decision.observe(time.perf_counter() - t0)
    return ack


# ------------------------------------------------------------------------------------------- writes
@router.post("/subaccounts", status_code=201, response_model=m.EventAck, responses=WRITE_ERRORS, tags=["accounts"])
async def open_subaccount(req: m.OpenSubAccountReq, request: Request, p: Principal = Depends(need("open_subaccount"))):
    """Open a sub-account ``account/sub`` (cross, or isolated on one instrument)."""
    _own(p, req.subaccount)
    return await _submit_one(request, _event("OpenSubAccount", req))


@router.post("/deposits", status_code=201, response_model=m.EventAck, responses=WRITE_ERRORS, tags=["custody"])
async def deposit(req: m.CashReq, request: Request, p: Principal = Depends(need("deposit"))):
    """Custody (up to the custody cap) or a risk officer credits money from the outside world (the ledger
    account ``external``) to a sub-account; audit-logged with the key. A trader requests one instead
    (``POST /v1/custody/requests``)."""
    return await _move_cash(request, p, "Deposit", req)


@router.post("/withdrawals", status_code=201, response_model=m.EventAck, responses=WRITE_ERRORS, tags=["custody"])
async def withdraw(req: m.CashReq, request: Request, p: Principal = Depends(need("withdraw"))):
    """Custody (up to the custody cap) or a risk officer pays a sub-account's money out to the outside world,
    up to its free collateral (409 ``free_collateral``, ``in_liquidation``, ``withdrawals_gated``)."""
    return await _move_cash(request, p, "Withdraw", req)


async def _move_cash(request: Request, p: Principal, kind: str, req: m.CashReq) -> m.EventAck:
    _desk(request).check_cap(p, req.amount, req.asset)
    ack = await _submit_one(request, _event(kind, req))
    await _audit(request, p, kind.lower(), {"seq": ack.seq, "subaccount": req.subaccount, "asset": req.asset,
                                            "amount": str(req.amount)})
    return ack


# ------------------------------------------------------------------------------------------- custody
def _desk(request: Request):
    return request.app.state.custody


@router.post("/custody/requests", status_code=201, response_model=m.CashRequestView, responses=CASH_REQUEST_LINKS, tags=["custody"])
async def request_cash(req: m.CashRequestReq, request: Request, p: Principal = Depends(need("request_cash"))):
    """A trader asks custody for a deposit into, or a withdrawal from, one of its own sub-accounts: a pending
    request (the sub-account and the asset must exist, the amount lie on the asset's grid). Nothing moves
    until custody confirms it; a withdrawal is checked against the free collateral then."""
    _own(p, req.subaccount)
    try:
        await _svc(request).writer.read(custody.check_cash, req.subaccount, req.asset, req.amount)
    except InvalidInput as exc:
        raise _state_refusal(exc) from None
    rec = await run_in_threadpool(_desk(request).request, p, req.kind, req.subaccount, req.asset, req.amount)
    return rec.public()


@router.get("/custody/requests", response_model=m.CashRequestList, responses=ERRORS, tags=["custody"])
async def list_cash_requests(request: Request, status: Literal["pending", "confirming", "confirmed", "rejected", "cancelled"] | None = None,
                             limit: int = Query(100, ge=1, le=1000), p: Principal = Depends(need("read_cash_requests"))):
    """Deposit and withdrawal requests, oldest first (a trader: its own account's)."""
    account = p.account if p.role == "trader" else None
    rows = await run_in_threadpool(lambda: _desk(request).list(account=account, status=status, limit=limit))
    return {"requests": [r.public() for r in rows]}


@router.get("/custody/requests/{request_id}", response_model=m.CashRequestView, responses=ERRORS, tags=["custody"])
async def get_cash_request(request: Request, request_id: str = Path(pattern=m.REQUEST_ID, max_length=19),
                           p: Principal = Depends(need("read_cash_requests"))):
    """One request (a trader: only its own account's; 404 otherwise)."""
    return (await run_in_threadpool(_desk(request).find, request_id, p)).public()


@router.post("/custody/requests/{request_id}/confirm", status_code=201, response_model=m.CashRequestView,
             responses=WRITE_ERRORS, tags=["custody"])
async def confirm_cash_request(request: Request, req: m.CashDecisionReq | None = None,
                               request_id: str = Path(pattern=m.REQUEST_ID, max_length=19),
                               p: Principal = Depends(need("decide_cash_request"))):
    """Custody (up to the custody cap) or a risk officer confirms a pending request: its ``Deposit`` or
    ``Withdraw`` is journaled (a withdrawal up to the free collateral now: 409 ``free_collateral`` leaves
    the request pending) and the request becomes ``confirmed`` with the event's ``seq``."""
    from ramparts.errors import RampartsError
    from ramparts.journal import JournalUnavailable

    desk = _desk(request)
    rec = await run_in_threadpool(desk.claim, request_id, p)
    try:
        ack = await _submit_one(request, rec.event())
    except JournalUnavailable:
        raise  # the event may or may not be stored: the request stays confirming (see ramparts.service.custody)
    except RampartsError:
        await run_in_threadpool(desk.release, request_id)  # refused: nothing was journaled
        raise
    done = await run_in_threadpool(desk.settle, request_id, p, ack.seq, req.note if req is not None else "")
    return done.public()


@router.post("/custody/requests/{request_id}/reject", response_model=m.CashRequestView, responses=WRITE_ERRORS, tags=["custody"])
async def reject_cash_request(request: Request, req: m.CashDecisionReq | None = None,
                              request_id: str = Path(pattern=m.REQUEST_ID, max_length=19),
                              p: Principal = Depends(need("decide_cash_request"))):
    """Custody or a risk officer rejects a pending request (a risk officer also one left ``confirming``)."""
    note = req.note if req is not None else ""
    return (await run_in_threadpool(lambda: _desk(request).close_request(request_id, p, note, cancel=False))).public()


@router.post("/custody/requests/{request_id}/cancel", response_model=m.CashRequestView, responses=WRITE_ERRORS, tags=["custody"])
async def cancel_cash_request(request: Request, request_id: str = Path(pattern=m.REQUEST_ID, max_length=19),
                              p: Principal = Depends(need("cancel_cash_request"))):
    """The trader withdraws its own pending request."""
    return (await run_in_threadpool(lambda: _desk(request).close_request(request_id, p, "", cancel=True))).public()


@router.get("/custody", response_model=m.CustodyView, responses=ERRORS, tags=["custody"])
async def custody_view(request: Request, p: Principal = Depends(need("read_custody"))):
    """The ledger account ``external`` (the outside world) per asset, the settlement asset's ledger totals by
    category (they add up to zero), the custody cap and the pending requests."""
    desk = _desk(request)
    view = await _svc(request).writer.read(custody.ledger_view)
    pending = await run_in_threadpool(desk.pending_counts)
    return {**view, "cap": None if desk.cap is None else str(desk.cap), "pending": pending}


async def apply_fills(svc, req: m.FillBatchReq) -> m.FillBatchAck:
    """The body of ``POST /v1/fills`` (also answered by :class:`~ramparts.service.hot.HotRoutes`)."""
    events = [_event("Fill", f) for f in req.fills]
    outcomes = await svc.writer.submit(events)
    from ramparts.service.app import error_body

    rows = [m.FillOutcome(index=i, accepted=o.accepted, seq=o.seq, effects=o.effects,
                          error=None if o.error is None else m.ErrorBody(**error_body(o.error)[1]))
            for i, o in enumerate(outcomes)]
    ok = sum(o.accepted for o in outcomes)
    return m.FillBatchAck(accepted=ok, rejected=len(rows) - ok, outcomes=rows)


@router.post("/fills", response_model=m.FillBatchAck, responses=WRITE_ERRORS, tags=["trading"])
async def ingest_fills(req: m.FillBatchReq, request: Request, p: Principal = Depends(need("fills"))):
    """A batch of fills from the matching engine: applied in order, journaled in one transaction, one outcome each."""
    return await apply_fills(_svc(request), req)


@router.post("/batches", status_code=201, response_model=m.EventAck, responses=WRITE_ERRORS, tags=["trading"])
async def ingest_batch(req: m.TradeBatchReq, request: Request, p: Principal = Depends(need("batches"))):
    """Batch mode: one ``TradeBatch`` (fills and index prices in columns) journaled as one row.

    Each item does what its own fill or price would; a refused item is a ``Rejected`` effect with
    its ``item`` number, and the rest of the batch goes on. A malformed batch is refused whole (422).
    """
    return await _submit_one(request, batch_event(req))


@router.post("/prices", status_code=201, response_model=m.EventAck, responses=WRITE_ERRORS, tags=["market data"])
async def post_price(req: m.PriceReq, request: Request, p: Principal = Depends(need("prices"))):
    """An oracle price: re-margins the holders; the ack carries the margin calls it decided."""
    return await apply_price(_svc(request), req)


async def apply_price(svc, req: m.PriceReq) -> m.EventAck:
    """The body of ``POST /v1/prices`` (also answered by :class:`~ramparts.service.hot.HotRoutes`)."""
    return await _submit_price(svc, _event("OraclePrice", req))


@router.post("/quotes", status_code=201, response_model=m.EventAck, responses=WRITE_ERRORS, tags=["market data"])
async def post_quotes(req: m.QuotesReq, request: Request, p: Principal = Depends(need("prices"))):
    """Quotes from several oracle sources for one market: aggregated (median, outliers, heartbeat) and gated."""
    return await _submit_price(_svc(request), _event("OracleQuotes", req))


@router.post("/assets", status_code=201, response_model=m.EventAck, responses=WRITE_ERRORS, tags=["admin"])
async def list_asset(req: m.AssetReq, request: Request, p: Principal = Depends(need("list_instrument"))):
    """List an asset; with ``collateral`` parameters it counts towards equity at its haircut value."""
    ack = await _submit_one(request, _event("ListAsset", req))
    await _audit(request, p, "list_asset", {"seq": ack.seq, "symbol": req.symbol})
    return ack


@router.post("/assets/prices", status_code=201, response_model=m.EventAck, responses=WRITE_ERRORS, tags=["market data"])
async def post_asset_price(req: m.AssetPriceReq, request: Request, p: Principal = Depends(need("prices"))):
    """A collateral asset's market price: re-values its holders (haircut, depeg, dynamic haircut)."""
    return await _submit_one(request, _event("AssetPrice", req))


@router.post("/assets/rates", status_code=201, response_model=m.EventAck, responses=WRITE_ERRORS, tags=["market data"])
async def post_exchange_rate(req: m.ExchangeRateReq, request: Request, p: Principal = Depends(need("prices"))):
    """A liquid-staking token's redemption rate to its base asset."""
    return await _submit_one(request, _event("ExchangeRate", req))


@router.post("/liquidations/bids", status_code=201, response_model=m.EventAck, responses=WRITE_ERRORS, tags=["liquidation"])
async def liquidation_bid(req: m.BidReq, request: Request, p: Principal = Depends(need("bid"))):
    """A keeper claims the next liquidation step (or buys a Dutch auction) into its own sub-account."""
    if req.keeper.split("/", 1)[0] != p.account:
        raise AuthError(403, "forbidden", f"keeper {req.keeper!r} is not an account of this key ({p.account}/*)")
    d = req.model_dump(exclude_none=True)
    event = {"kind": "LiquidationBid", "liquidator": d.pop("keeper"), **d}
    return await _submit_one(request, event)


@router.post("/breakers/reset", status_code=201, response_model=m.EventAck, responses=WRITE_ERRORS, tags=["admin"])
async def reset_breaker(req: m.BreakerResetReq, request: Request, p: Principal = Depends(need("parameters"))):
    """Reset a tripped circuit breaker by hand (journaled with the risk officer's key)."""
    ack = await _submit_one(request, _event("ResetBreaker", req, by=f"key-{p.key_id}"))
    await _audit(request, p, "breaker_reset", {"seq": ack.seq, "name": req.name})
    return ack


@router.post("/funding", status_code=201, response_model=m.EventAck, responses=WRITE_ERRORS, tags=["market data"])
async def funding_tick(req: m.FundingReq, request: Request, p: Principal = Depends(need("funding"))):
    """Pay one funding interval of a perpetual, on the instrument's schedule: refused (409
    ``funding_too_soon``) sooner than its ``funding.interval_seconds`` (default 8 h) after the last
    tick, and a ``premium`` beyond the one at which the rate reaches its cap (``max_rate_ppm +
    premium_clamp_ppm``, default 4.05 %) is refused (422), so no key can pay more than the capped
    rate once per interval."""
    return await _submit_one(request, _event("FundingTick", req, scheduled=True))


@router.post("/liquidations/tick", status_code=201, response_model=m.EventAck, responses=WRITE_ERRORS, tags=["liquidation"])
async def liquidation_tick(req: m.TickReq, request: Request, p: Principal = Depends(need("tick"))):
    """Run one tick of the waterfall; the liquidator credited is the key's keeper name."""
    name = p.account or f"key-{p.key_id}"
    return await _submit_one(request, _event("Tick", req, liquidator=name))


@router.post("/parameters", status_code=201, response_model=m.EventAck, responses=WRITE_ERRORS, tags=["admin"])
async def change_parameter(req: m.ParameterReq, request: Request, p: Principal = Depends(need("parameters"))):
    """A parameter change, journaled as an event (and audit-logged with the key that made it)."""
    ack = await _submit_one(request, _event("ParameterChange", req))
    await _audit(request, p, "parameter_change", {"seq": ack.seq, "target": req.target, "key": req.key, "value": req.value})
    return ack


@router.post("/instruments", status_code=201, response_model=m.EventAck, responses=INSTRUMENT_LINKS, tags=["admin"])
async def list_instrument(req: m.InstrumentReq, request: Request, p: Principal = Depends(need("list_instrument"))):
    ack = await _submit_one(request, _event("ListInstrument", req))
    await _audit(request, p, "list_instrument", {"seq": ack.seq, "symbol": req.symbol})
    return ack


@router.post("/insurance/deposits", status_code=201, response_model=m.EventAck, responses=WRITE_ERRORS, tags=["insurance"])
async def fund_insurance(req: m.FundInsuranceReq, request: Request, p: Principal = Depends(need("fund_insurance"))):
    ack = await _submit_one(request, _event("FundInsurance", req))
    await _audit(request, p, "fund_insurance", {"seq": ack.seq, "fund": req.fund, "amount": str(req.amount)})
    return ack


async def _audit(request: Request, p: Principal, action: str, detail: dict) -> None:
    await run_in_threadpool(_svc(request).keys.audit, p.key_id, action, detail)


# ------------------------------------------------------------------------------------------- reads
@router.get("/subaccounts", response_model=m.AccountList, responses=ERRORS, tags=["accounts"])
async def list_subaccounts(request: Request, p: Principal = Depends(need("read_account"))):
    """Every sub-account (a trader: its own) with equity, maintenance margin, margin ratio and state."""
    from ramparts.service import reads, readview

    owner = p.account if p.role == "trader" else None
    return {"accounts": await reads.answer(request, readview.accounts, owner)}


@router.get("/subaccounts/{account}/{sub}", response_model=m.AccountRiskView, responses=ERRORS, tags=["accounts"])
async def account_risk(request: Request, account: str = Path(pattern=m.ACCOUNT, max_length=64),
                       sub: str = Path(pattern=m.ACCOUNT, max_length=64),
                       p: Principal = Depends(need("read_account"))):
    """Equity, initial and maintenance margin, margin ratio, liquidation price, waterfall state, positions."""
    from ramparts.service import reads, readview

    sid = f"{account}/{sub}"
    _own(p, sid)
    return await reads.answer(request, readview.account_risk, sid)


@router.get("/liquidations/queue", response_model=m.QueueView, responses=ERRORS, tags=["liquidation"])
async def liquidation_queue(request: Request, p: Principal = Depends(need("read_queue"))):
    """Sub-accounts in breach, in liquidation or bankrupt: bankrupt first, then by margin ratio."""
    from ramparts.service import reads, readview

    view = await reads.view_of(request)
    return {"seq": view.seq, "accounts": await reads.compute(request, readview.queue, view)}


@router.get("/insurance", response_model=m.InsuranceView, responses=ERRORS, tags=["insurance"])
async def insurance(request: Request, p: Principal = Depends(need("read_queue"))):
    from ramparts.service import reads, readview

    return readview.insurance(await reads.view_of(request))


@router.get("/markets", response_model=m.MarketList, responses=ERRORS, tags=["market data"])
async def markets(request: Request, p: Principal = Depends(need("read_market"))):
    """Every instrument with its index, mark and open interest."""
    from ramparts.service import reads, readview

    return {"markets": await reads.answer(request, readview.markets)}


@router.get("/open-interest", response_model=dict[str, m.MarketView], responses=ERRORS, tags=["market data"])
async def open_interest(request: Request, p: Principal = Depends(need("read_market"))):
    """Open interest per market (long side, equal to the short side), keyed by symbol."""
    from ramparts.service import reads, readview

    return {row["symbol"]: row for row in await reads.answer(request, readview.markets)}


@router.get("/markets/{symbol}/adl", response_model=m.AdlView, responses=ERRORS, tags=["liquidation"])
async def adl_ranking(request: Request, symbol: str = Path(pattern=m.SYMBOL, max_length=32),
                      p: Principal = Depends(need("read_queue"))):
    """Both sides in the order the waterfall would auto-deleverage them (profit % × leverage, highest first)."""
    from ramparts.service import reads, readview

    return await reads.answer(request, readview.adl, symbol)


@router.get("/events", response_model=m.EventPage, responses=ERRORS, tags=["journal"])
async def events(request: Request, from_seq: int = Query(1, ge=1, le=2**63 - 1), limit: int = Query(100, ge=1, le=1000),
                 p: Principal = Depends(need("read_all"))):
    """The journal, in order: seq, kind, payload and effects of each event."""
    return await _svc(request).journal_reader.run(_page, from_seq, limit)


def _page(journal, from_seq: int, limit: int) -> dict:
    import json

    last = journal.last_seq()
    if from_seq > last:
        return {"events": [], "next_from_seq": None, "last_seq": last}
    to = min(last, from_seq + limit - 1)
    rows = [{"seq": r.seq, "ts": r.ts, "kind": r.kind, "payload": json.loads(r.payload), "effects": json.loads(r.effects)}
            for r in journal.read(from_seq, to)]
    return {"events": rows, "next_from_seq": to + 1 if to < last else None, "last_seq": last}


@router.get("/state", response_model=m.StateView, responses=ERRORS, tags=["journal"])
async def state(request: Request, p: Principal = Depends(need("read_queue"))):
    """The engine's sequence number, time and SHA-256 state hash (equal to a replay of the journal)."""
    from ramparts.service import reads

    return (await reads.hashed_of(request)).state()


@router.get("/breakers", response_model=m.BreakerView, responses=ERRORS, tags=["liquidation"])
async def breakers(request: Request, p: Principal = Depends(need("read_queue"))):
    """Circuit-breaker states (``configured: false`` when the engine has none)."""
    from ramparts.service import reads, readview

    return readview.breakers(await reads.view_of(request))


@router.get("/overview", response_model=m.Overview, responses=ERRORS, tags=["dashboard"])
async def overview(request: Request, p: Principal = Depends(need("read_all"))):
    """Everything the dashboard shows, in one consistent read."""
    from ramparts.service import reads

    svc = _svc(request)
    h = await reads.hashed_of(request)  # the state hash and the view of the same seq
    return await reads.compute(request, reads.overview, h, dict(svc.counters))


# ------------------------------------------------------------------------------------------- tickets
@router.post("/tickets", status_code=201, response_model=m.TicketCreated, responses=WRITE_ERRORS, tags=["stream"])
async def create_ticket(request: Request, p: Principal = Depends(need("stream"))):
    """A single-use ticket for the WebSocket stream, valid about a minute: open ``/v1/stream?ticket=...``.

    Browsers cannot put the ``X-API-Key`` header on a WebSocket, and keys are never accepted in a URL;
    a ticket in a URL is harmless once used or expired. Revoking the key voids its tickets."""
    ticket, ttl = _svc(request).auth.tickets.issue(p)
    return {"ticket": ticket, "expires_in_s": ttl, "key_id": p.key_id}


# ------------------------------------------------------------------------------------------- keys
@router.post("/keys", status_code=201, response_model=m.KeyCreated, responses=KEY_LINKS, tags=["admin"])
async def create_key(req: m.KeyReq, request: Request, p: Principal = Depends(need("keys"))):
    """Create an API key of any role (``sequencer`` included; the token is returned once); audit-logged
    durably with the key change."""
    rec, token = await run_in_threadpool(_svc(request).keys.create_key, req.role, req.account, req.label, actor=p.key_id)
    return {**rec.public(), "token": token}


@router.get("/keys", response_model=m.KeyList, responses=ERRORS, tags=["admin"])
async def list_keys(request: Request, p: Principal = Depends(need("keys"))):
    return {"keys": [r.public() for r in await run_in_threadpool(_svc(request).keys.list_keys)]}


@router.delete("/keys/{key_id}", response_model=m.KeyView, responses=ERRORS, tags=["admin"])
async def revoke_key(request: Request, key_id: str = Path(max_length=64), p: Principal = Depends(need("keys"))):
    """Revoke a key: it is refused (401) from now on."""
    svc = _svc(request)
    if not await run_in_threadpool(svc.keys.revoke, key_id, actor=p.key_id):
        raise UnknownEntity("key_id", f"unknown key {key_id!r}")
    svc.auth.forget(key_id)
    rec = await run_in_threadpool(svc.keys.get, key_id)
    return rec.public()


@router.get("/audit", response_model=m.AuditList, responses=ERRORS, tags=["admin"])
async def audit_log(request: Request, limit: int = Query(100, ge=1, le=1000), p: Principal = Depends(need("read_all"))):
    """The admin audit log, newest first."""
    return {"entries": await run_in_threadpool(_svc(request).keys.audit_entries, limit)}


# ------------------------------------------------------------------------------------------- methods
_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def answer_every_method(app) -> None:
    """Per path of ``app``'s OpenAPI schema (call it once every route is included): ``OPTIONS`` answers 204 with
    ``Allow`` (the documented methods and OPTIONS), every other undocumented method 405 with the same ``Allow``
    (Starlette's own 405 names only the first route of a path, so a path with GET and POST would advertise one
    of them, and OPTIONS would be a 405). The routes go after the documented ones: a documented method finds its
    own route (Starlette takes the first full match, and these only match the other methods), and every request
    of the hot paths (``POST /v1/fills``) no longer tests some eighty of these first (a seventh of the route's
    server time)."""
    from fastapi.responses import Response
    from starlette.exceptions import HTTPException

    for path, item in app.openapi().get("paths", {}).items():
        methods = {meth.upper() for meth in item if meth.upper() in _METHODS}
        options, not_allowed = _method_handlers(", ".join(sorted(methods | {"OPTIONS"})), Response, HTTPException)
        rest = [x for x in _METHODS if x not in methods and x != "OPTIONS"]
        for handler, verbs in ((options, ["OPTIONS"]), (not_allowed, rest)):
            if verbs:
                app.add_api_route(path, handler, methods=verbs, include_in_schema=False, response_model=None)


def _method_handlers(allow: str, response, http_exception):
    async def options():
        return response(status_code=204, headers={"Allow": allow})

    async def not_allowed():
        raise http_exception(405, f"method not allowed here (allowed: {allow})", headers={"Allow": allow})

    return options, not_allowed


#: The routes :class:`~ramparts.service.hot.HotRoutes` answers without FastAPI's stack when the request is the
#: ordinary case: each the same model, action, status, response model and body as its documented route above
#: (``tests/test_service_hot.py`` checks the table against the routes).
HOT_ROUTES = {
    "/v1/fills": HotRoute(m.FillBatchReq, "fills", 200, m.FillBatchAck, apply_fills),
    "/v1/prices": HotRoute(m.PriceReq, "prices", 201, m.EventAck, apply_price),
}

__all__ = ["HOT_ROUTES", "answer_every_method", "apply_fills", "apply_price", "router"]
