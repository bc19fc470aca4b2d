"""The risk service: a FastAPI app around ONE journaled node (``create_app``).

This module owns the app's assembly: the :class:`Service` state (the single :class:`Writer`, the
key store and authenticator, the stream hub, the metrics), the mapping of errors to JSON bodies
``{"error", "field", "message"}`` (InvalidInput 422, UnknownEntity 404, Rejected 409 with its
reason, an event the engine failed to apply 422 ``event_failed``, authentication 401, role 403, rate
limit 429, journal unavailable 503; a user mistake is never a 5xx), the WebSocket ``/v1/stream``, ``/metrics``, ``/healthz`` and the dashboard at ``/``.
The REST routes themselves are in :mod:`ramparts.service.api`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from contextlib import asynccontextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ramparts.errors import EventFailed, InvalidInput, JournalCorrupt, RampartsError, Rejected, UnknownEntity
from ramparts.journal import JournalUnavailable
from ramparts.service import views
from ramparts.service.auth import Authenticator, AuthError, KeyStore, Principal
from ramparts.service.metrics import ServiceMetrics
from ramparts.service.stream import Hub, messages
from ramparts.service.writer import Writer

log = logging.getLogger("ramparts.service")
STATIC = Path(__file__).parent / "static"
COUNTED = ("MarginCall", "LiquidationStep", "LiquidationEnded", "Bankruptcy", "Deleverage", "InsuranceFundDraw", "SocialisedLoss", "BadDebt")


class Service:
    """Everything a request handler needs (``request.app.state.svc``)."""

    def __init__(self, writer: Writer, keys: KeyStore, auth: Authenticator, metrics: ServiceMetrics, hub: Hub):
        self.writer, self.keys, self.auth, self.metrics, self.hub = writer, keys, auth, metrics, hub
        self.counters: Counter[str] = Counter({k: 0 for k in COUNTED})  # effects journaled since start

    async def principal(self, token: str | None, action: str, cost: float = 1.0) -> Principal:
        p = self.auth.cached(token)
        if p is None:
            p = await run_in_threadpool(self.auth.verify, token)
        self.auth.authorize(p, action, cost=cost)
        return p

    def on_commit(self, events: list[dict], outcomes: list, seconds: float, stats: Any) -> None:
        for o in outcomes:
            for fx in o.effects or ():
                if fx.get("kind") in self.counters:
                    self.counters[fx["kind"]] += 1
        if stats is not None:
            self.metrics.observe_commit(events, outcomes, seconds, stats)
        self.hub.publish(messages(events, outcomes))
        rejected = sum(1 for o in outcomes if not o.accepted)
        log.debug("commit", extra={"fields": {"events": len(events), "rejected": rejected, "seconds": round(seconds, 6)}})


def _commit_stats(engine) -> dict:
    at_risk, in_liq = views.at_risk_counts(engine)
    scale = 10 ** engine.settlement.decimals if engine.settlement else 1
    return {"at_risk": at_risk, "in_liquidation": in_liq, "seq": engine.seq,
            "insurance": {k: v / scale for k, v in views.insurance_units(engine).items()}}


def error_body(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """The HTTP status and JSON body of an error."""
    if isinstance(exc, AuthError):
        return exc.status, {"error": exc.reason, "field": None, "message": exc.message}
    if isinstance(exc, InvalidInput):
        return 422, {"error": "invalid_input", "field": exc.field, "message": exc.message}
    if isinstance(exc, UnknownEntity):
        return 404, {"error": "unknown_entity", "field": exc.field, "message": exc.message}
    if isinstance(exc, Rejected):
        return 409, {"error": exc.reason, "field": None, "message": exc.message}
    if isinstance(exc, EventFailed):
        return 422, {"error": "event_failed", "field": None, "message": exc.message}
    if isinstance(exc, (JournalUnavailable, JournalCorrupt)):
        return 503, {"error": "journal_unavailable", "field": None, "message": str(exc)}
    if isinstance(exc, RampartsError):
        return 400, {"error": "bad_request", "field": None, "message": str(exc)}
    return 500, {"error": "internal", "field": None, "message": "internal error"}


def _validation_body(exc: RequestValidationError) -> dict[str, Any]:
    errs = exc.errors()
    err = errs[0] if errs else {}
    loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
    return {"error": "invalid_input", "field": ".".join(loc) or None, "message": str(err.get("msg", "invalid request"))}


@lru_cache(maxsize=1)
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def create_app(journal_url: str, *, namespace: str = "ramparts", api_keys_store: str | KeyStore | None = None,
               durability: str = "full", snapshot_every: int = 0, bootstrap: list | None = None,
               rate_limit: tuple[float, float] = (100.0, 200.0), max_batch: int = 2048,
               max_clock_skew_s: float = 300.0) -> FastAPI:
    """The risk service over the journal at ``journal_url`` (SQLite path / ``sqlite:///`` or ``postgresql://``).

    ``api_keys_store`` is a :class:`KeyStore` or its URL (default: the journal's database and
    namespace). ``bootstrap`` are the events journaled when the journal is empty (default: a
    USDC genesis). ``rate_limit`` is (tokens per second, burst) per key; a rate of 0 disables it.
    ``max_clock_skew_s`` is the furthest a request's own ``ts`` may be ahead of the service's
    wall clock (see :mod:`ramparts.service.writer`).
    """
    keys = api_keys_store if isinstance(api_keys_store, KeyStore) else KeyStore(api_keys_store or journal_url, namespace=namespace)
    metrics = ServiceMetrics()
    writer = Writer(journal_url, namespace=namespace, durability=durability, snapshot_every=snapshot_every,
                    bootstrap=bootstrap, max_batch=max_batch, after_commit=_commit_stats,
                    max_clock_skew_ns=round(max_clock_skew_s * 10**9))
    svc = Service(writer, keys, Authenticator(keys, rate=rate_limit[0], burst=rate_limit[1]), metrics, Hub())
    writer.listeners.append(svc.on_commit)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await writer.start()
        stats = await writer.read(_commit_stats)
        metrics.accounts_at_risk.set(stats["at_risk"])
        metrics.journal_seq.set(stats["seq"])
        for fund, v in stats["insurance"].items():
            metrics.insurance_fund.labels(fund).set(v)
        log.info("service started", extra={"fields": {"journal_seq": stats["seq"], "namespace": namespace}})
        try:
            yield
        finally:
            await writer.stop()
            if not isinstance(api_keys_store, KeyStore):
                keys.close()

    app = FastAPI(title="ramparts risk service", version="1", lifespan=lifespan,
                  description="Margin and liquidation engine behind an append-before-acknowledge journal. "
                              "Authenticate with `X-API-Key: rk_...` (or `Authorization: Bearer rk_...`).")
    app.state.svc = svc

    @app.exception_handler(RampartsError)
    async def _ramparts_error(request: Request, exc: RampartsError):
        status, body = error_body(exc)
        headers = {"Retry-After": f"{max(1, round(exc.retry_after))}"} if isinstance(exc, AuthError) and exc.retry_after else None
        if status >= 500:
            log.error("request failed", extra={"fields": {"path": request.url.path, "error": body["message"]}})
        return JSONResponse(body, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError):
        return JSONResponse(_validation_body(exc), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException):
        reason = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse({"error": reason, "field": None, "message": str(exc.detail)}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception):
        log.exception("unhandled error", extra={"fields": {"path": request.url.path}})
        return JSONResponse(error_body(exc)[1], status_code=500)

    from ramparts.service.api import router

    app.include_router(router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict:
        return {"ok": True}

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    @app.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(STATIC / "dashboard.html", media_type="text/html")

    @app.get("/static/dashboard.js", include_in_schema=False)
    async def dashboard_js() -> FileResponse:
        return FileResponse(STATIC / "dashboard.js", media_type="text/javascript")

    @app.get("/static/plotly.min.js", include_in_schema=False)
    async def plotly_js() -> Response:
        return Response(await run_in_threadpool(_plotly_js), media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})

    @app.websocket("/v1/stream")
    async def stream(ws: WebSocket):
        token = ws.query_params.get("key") or ws.headers.get("x-api-key")
        await ws.accept()
        try:
            principal = await svc.principal(token, "stream")
        except AuthError as exc:
            await ws.send_json({"type": "error", "error": exc.reason, "message": exc.message})
            await ws.close(code=4000 + exc.status)
            return
        q = svc.hub.subscribe(principal)
        try:
            seq = await writer.read(lambda e: e.seq)
            await ws.send_json({"type": "hello", "seq": seq, "role": principal.role, "ts": time.time_ns()})
            receiver = asyncio.ensure_future(_drain(ws))
            while True:
                getter = asyncio.ensure_future(q.get())
                done, _ = await asyncio.wait({getter, receiver}, return_when=asyncio.FIRST_COMPLETED)
                if receiver in done:
                    getter.cancel()
                    break
                msg = getter.result()
                if msg is None:
                    await ws.close(code=4008)
                    break
                await ws.send_json(msg)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            svc.hub.unsubscribe(q)

    return app


async def _drain(ws: WebSocket) -> None:
    """Read (and ignore) client frames until the socket closes."""
    try:
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                return
    except Exception:  # noqa: BLE001
        return


__all__ = ["Service", "create_app", "error_body"]
