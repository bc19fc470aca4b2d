"""The versioned REST routes of the risk service (``/v1``).

Writes become journal events and are acknowledged (201, or 200 with per-fill outcomes for a fill
batch) only after the node journaled them; reads are snapshots taken on the writer thread. Every
route names the action it needs (:data:`ramparts.service.auth.PERMISSIONS`); a trader is further
confined to its own account's sub-accounts. The key comes from the ``X-API-Key`` or
``Authorization: Bearer`` header only (``?key=`` is a 401 ``key_in_url``); ``POST /v1/tickets``
turns it into a single-use ticket for the WebSocket stream. Every role of
:data:`~ramparts.service.auth.ROLES`, ``sequencer`` included, can be given a key through
``POST /v1/keys`` by a risk officer (none is held back). The ``responses`` of each route document
every status it may answer: :data:`ERRORS` for reads, :data:`WRITE_ERRORS` (also 413) for routes
with a body.
"""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from ramparts.errors import UnknownEntity
from ramparts.service import models as m
from ramparts.service import views
from ramparts.service.auth import AuthError, Principal
from ramparts.service.guard import token_of

router = APIRouter(prefix="/v1")

_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="rk_<key_id>_<secret> (never in the URL)")
_bearer = HTTPBearer(auto_error=False)

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": m.ErrorBody, "description": text}
    for code, text in (
        (401, "missing, unknown or revoked API key, or a key in the URL (key_in_url: send the X-API-Key header)"),
        (403, "the key's role may not do this, or a trader touched another account"),
        (404, "unknown instrument, asset or sub-account"),
        (409, "rejected by the risk rules (error = the engine's reason), or journal_conflict: the journal moved on "
              "under the service (nothing stored; retry)"),
        (422, "malformed input (field names the culprit)"),
        (429, "rate limit of the key exceeded (rate_limited), or too many failed authentications from this client or "
              "for this key id (auth_throttled); Retry-After says when to retry"),
        (503, "the journal or the key store is unavailable"),
    )
}
#: The responses of a route that takes a body: also 413.
WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS, 413: {"model": m.ErrorBody, "description": "the request body is larger than the service's --max-body-bytes"},
}


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


async def _submit_one(request: Request, event: dict) -> m.EventAck:
    out = (await _svc(request).writer.submit([event]))[0]
    if out.error is not None:
        raise out.error
    return m.EventAck(seq=out.seq, ts=event["ts"], kind=event["kind"], effects=out.effects)


async def _submit_price(request: Request, event: dict) -> m.EventAck:
    """Submit a price event and record its tick-to-decision latency (margin calls decided and journaled)."""
    t0 = time.perf_counter()
    ack = await _submit_one(request, event)
    _svc(request).metrics.tick_to_decision.observe(time.perf_counter() - t0)
    return ack


# ------------------------------------------------------------------------------------------- writes
@router.post("/subaccounts", status_code=201, response_model=m.EventAck, responses=WRITE_ERRORS, tags=["accounts"])
async def open_subaccount(req: m.OpenSubAccountReq, request: Request, p: Principal = Depends(need("open_subaccount"))):
    """Open a sub-account ``account/sub`` (cross, or isolated on one instrument)."""
    _own(p, req.subaccount)
    return await _submit_one(request, _event("OpenSubAccount", req))


@router.post("/deposits", status_code=201, response_model=m.EventAck, responses=WRITE_ERRORS, tags=["accounts"])
async def deposit(req: m.CashReq, request: Request, p: Principal = Depends(need("deposit"))):
    _own(p, req.subaccount)
    return await _submit_one(request, _event("Deposit", req))


@router.post("/withdrawals", status_code=201, response_model=m.EventAck, responses=WRITE_ERRORS, tags=["accounts"])
async def withdraw(req: m.CashReq, request: Request, p: Principal = Depends(need("withdraw"))):
    """Withdraw up to the free collateral (409 ``free_collateral``, ``in_liquidation``, ``withdrawals_gated``)."""
    _own(p, req.subaccount)
    return await _submit_one(request, _event("Withdraw", req))


@router.post("/fills", response_model=m.FillBatchAck, responses=WRITE_ERRORS, tags=["trading"])
async def ingest_fills(req: m.FillBatchReq, request: Request, p: Principal = Depends(need("fills"))):
    """A batch of fills from the matching engine: applied in order, journaled in one transaction, one outcome each."""
    events = [_event("Fill", f) for f in req.fills]
    outcomes = await _svc(request).writer.submit(events)
    from ramparts.service.app import error_body

    rows = [m.FillOutcome(index=i, accepted=o.accepted, seq=o.seq, effects=o.effects,
                          error=None if o.error is None else m.ErrorBody(**error_body(o.error)[1]))
            for i, o in enumerate(outcomes)]
    ok = sum(o.accepted for o in outcomes)
    return m.FillBatchAck(accepted=ok, rejected=len(rows) - ok, outcomes=rows)


@router.post("/batches", status_code=201, response_model=m.EventAck, responses=WRITE_ERRORS, tags=["trading"])
async def ingest_batch(req: m.TradeBatchReq, request: Request, p: Principal = Depends(need("batches"))):
    """Batch mode: one ``TradeBatch`` (fills and index prices in columns) journaled as one row.

    Each item does what its own fill or price would; a refused item is a ``Rejected`` effect with
    its ``item`` number, and the rest of the batch goes on. A malformed batch is refused whole (422).
    """
    if req.ts is None and req.time:
        req = req.model_copy(update={"ts": max(req.time)})
    return await _submit_one(request, _event("TradeBatch", req))


@router.post("/prices", status_code=201, response_model=m.EventAck, responses=WRITE_ERRORS, tags=["market data"])
async def post_price(req: m.PriceReq, request: Request, p: Principal = Depends(need("prices"))):
    """An oracle price: re-margins the holders; the ack carries the margin calls it decided."""
    return await _submit_price(request, _event("OraclePrice", req))


@router.post("/quotes", status_code=201, response_model=m.EventAck, responses=WRITE_ERRORS, tags=["market data"])
async def post_quotes(req: m.QuotesReq, request: Request, p: Principal = Depends(need("prices"))):
    """Quotes from several oracle sources for one market: aggregated (median, outliers, heartbeat) and gated."""
    return await _submit_price(request, _event("OracleQuotes", req))


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


@router.post("/instruments", status_code=201, response_model=m.EventAck, responses=WRITE_ERRORS, tags=["admin"])
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
    owner = p.account if p.role == "trader" else None
    return {"accounts": await _svc(request).writer.read(views.accounts, owner)}


@router.get("/subaccounts/{account}/{sub}", response_model=m.AccountRiskView, responses=ERRORS, tags=["accounts"])
async def account_risk(request: Request, account: str = Path(max_length=64), sub: str = Path(max_length=64),
                       p: Principal = Depends(need("read_account"))):
    """Equity, initial and maintenance margin, margin ratio, liquidation price, waterfall state, positions."""
    sid = f"{account}/{sub}"
    _own(p, sid)
    return await _svc(request).writer.read(views.account_risk, sid)


@router.get("/liquidations/queue", response_model=m.QueueView, responses=ERRORS, tags=["liquidation"])
async def liquidation_queue(request: Request, p: Principal = Depends(need("read_queue"))):
    """Sub-accounts in breach, in liquidation or bankrupt: bankrupt first, then by margin ratio."""
    return await _svc(request).writer.read(lambda e: {"seq": e.seq, "accounts": views.queue(e)})


@router.get("/insurance", response_model=m.InsuranceView, responses=ERRORS, tags=["insurance"])
async def insurance(request: Request, p: Principal = Depends(need("read_queue"))):
    return await _svc(request).writer.read(views.insurance)


@router.get("/markets", response_model=m.MarketList, responses=ERRORS, tags=["market data"])
async def markets(request: Request, p: Principal = Depends(need("read_market"))):
    """Every instrument with its index, mark and open interest."""
    return {"markets": await _svc(request).writer.read(views.markets)}


@router.get("/open-interest", response_model=dict[str, m.MarketView], responses=ERRORS, tags=["market data"])
async def open_interest(request: Request, p: Principal = Depends(need("read_market"))):
    """Open interest per market (long side, equal to the short side), keyed by symbol."""
    return {row["symbol"]: row for row in await _svc(request).writer.read(views.markets)}


@router.get("/markets/{symbol}/adl", response_model=m.AdlView, responses=ERRORS, tags=["liquidation"])
async def adl_ranking(request: Request, symbol: str = Path(max_length=64), p: Principal = Depends(need("read_queue"))):
    """Both sides in the order the waterfall would auto-deleverage them (profit % × leverage, highest first)."""
    return await _svc(request).writer.read(views.adl, symbol)


@router.get("/events", response_model=m.EventPage, responses=ERRORS, tags=["journal"])
async def events(request: Request, from_seq: int = Query(1, ge=1, le=2**63 - 1), limit: int = Query(100, ge=1, le=1000),
                 p: Principal = Depends(need("read_all"))):
    """The journal, in order: seq, kind, payload and effects of each event."""
    return await _svc(request).writer.journal(_page, from_seq, limit)


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
    return await _svc(request).writer.read(views.state)


@router.get("/breakers", response_model=m.BreakerView, responses=ERRORS, tags=["liquidation"])
async def breakers(request: Request, p: Principal = Depends(need("read_queue"))):
    """Circuit-breaker states (``configured: false`` when the engine has none)."""
    return await _svc(request).writer.read(views.breakers)


@router.get("/overview", response_model=m.Overview, responses=ERRORS, tags=["dashboard"])
async def overview(request: Request, p: Principal = Depends(need("read_all"))):
    """Everything the dashboard shows, in one consistent read."""
    svc = _svc(request)

    def build(e) -> dict:
        return {**views.state(e), "accounts": max(len(e.subs) - 1, 0), "ratio_histogram": views.ratio_histogram(e),
                "queue": views.queue(e)[:200], "insurance": views.insurance(e), "markets": views.markets(e),
                "breakers": views.breakers(e)}

    out = await svc.writer.read(build)
    out["counters"] = dict(svc.counters)
    return out


# ------------------------------------------------------------------------------------------- tickets
@router.post("/tickets", status_code=201, response_model=m.TicketCreated, responses=WRITE_ERRORS, tags=["stream"])
async def create_ticket(request: Request, p: Principal = Depends(need("stream"))):
    """A single-use ticket for the WebSocket stream, valid about a minute: open ``/v1/stream?ticket=...``.

    Browsers cannot put the ``X-API-Key`` header on a WebSocket, and keys are never accepted in a URL;
    a ticket in a URL is harmless once used or expired. Revoking the key voids its tickets."""
    ticket, ttl = _svc(request).auth.tickets.issue(p)
    return {"ticket": ticket, "expires_in_s": ttl, "key_id": p.key_id}


# ------------------------------------------------------------------------------------------- keys
@router.post("/keys", status_code=201, response_model=m.KeyCreated, responses=WRITE_ERRORS, tags=["admin"])
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


__all__ = ["router"]
