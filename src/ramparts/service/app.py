"""The risk service: a FastAPI app around ONE journaled node (``create_app``).

This module owns the app's assembly: the :class:`Service` state (the single :class:`Writer`, the
key store and authenticator, the stream hub, the metrics), the mapping of errors to JSON bodies
``{"error", "field", "message"}`` (InvalidInput 422, or 409 where :mod:`ramparts.service.api` marks it a
refusal by the venue's state, UnknownEntity 404, Rejected 409 with its
reason, the journal moved on under the service 409 ``journal_conflict``, an event the engine failed
to apply 422 ``event_failed``, authentication 401, role 403, rate limit and failed-login throttling
429, a body over the limit 413, a read asking for a seq not reached 425, journal unavailable 503; a
user mistake is never a 5xx), the WebSocket ``/v1/stream``, ``/metrics``, ``/healthz`` and the
dashboard at ``/``. The REST routes themselves are in :mod:`ramparts.service.api` and
:mod:`ramparts.service.reads`; what reaches them is checked by :mod:`ramparts.service.guard` (keys
in headers only, authentication before the body, the body limit). The two hot writes (``POST /v1/fills``,
``POST /v1/prices``) are answered by :mod:`ramparts.service.hot` in front of FastAPI's router when the request
is the ordinary case (the same model, rights, body and answer as the documented route; anything else is the
route's).

The read side is wired here: the :class:`~ramparts.service.readview.Publisher` (views and state
hashes, off the writer thread), told of each commit; the journal reader
(:class:`~ramparts.service.readview.ReadJournal`); the ``X-Ramparts-Seq`` header
(:class:`~ramparts.service.reads.SeqHeader`); and the :class:`~ramparts.service.history.History`,
rebuilt from the journal at start (before serving for a journal of at most
:data:`HISTORY_WAIT_EVENTS` events, while serving beyond) and fed by each commit. What the writer
computes after each commit for the listeners is O(instruments) (:func:`_commit_stats`); the
at-risk gauges are counted from a view when ``/metrics`` is read.

Authentication (:meth:`Service.authenticate`) answers a verified token from the cache on the event
loop; anything else runs scrypt on a worker thread (``anyio.to_thread``, at most
``auth_threads`` at once, so the event loop keeps serving other requests and a flood of bad keys
cannot take every thread), after the failed-login throttle had its say (429 without scrypt).

The stream ``/v1/stream`` takes a single-use ticket (``?ticket=``, from ``POST /v1/tickets``) or a
key in the ``X-API-Key`` / ``Authorization`` header, never ``?key=``; at most ``max_ws_per_key``
streams per key, each with a queue of ``ws_queue`` messages (a subscriber that falls behind is
closed with 4008 and a reason). Refusals are a JSON ``error`` message, then a close with code
``4000 + status`` and the message as reason.

The dashboard's HTML and scripts carry security headers (:data:`DASHBOARD_HEADERS`): a
Content-Security-Policy allowing only this origin's scripts (``/static/plotly.min.js``,
``/static/dashboard.js``), its inline styles (the page's ``<style>`` and Plotly's), its own
``fetch``/WebSocket and ``data:`` images (Plotly), no framing, ``Referrer-Policy: no-referrer``,
``X-Content-Type-Options: nosniff`` and ``X-Frame-Options: DENY``.
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
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ramparts.errors import EventFailed, InvalidInput, JournalCorrupt, RampartsError, Rejected, UnknownEntity
from ramparts.journal import JournalUnavailable
from ramparts.service import readview
from ramparts.service.auth import Authenticator, AuthError, FailureThrottle, KeyStore, Principal
from ramparts.service.guard import MAX_BODY_BYTES, BodyGuard, token_of
from ramparts.service.history import History, Meta
from ramparts.service.ingest import serve_ingest
from ramparts.service.metrics import ServiceMetrics
from ramparts.service.stream import MAX_PER_KEY, QUEUE_SIZE, Dropped, Hub, messages
from ramparts.service.writer import SNAPSHOT_EVERY, JournalConflict, Writer

log = logging.getLogger("ramparts.service")
STATIC = Path(__file__).parent / "static"

#: Security headers of the dashboard's HTML (the scripts get the last three).
DASHBOARD_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
                               "img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}
SCRIPT_HEADERS = {k: v for k, v in DASHBOARD_HEADERS.items() if k != "Content-Security-Policy"}


class Service:
    """Everything a request handler needs (``request.app.state.svc``)."""

    def __init__(self, writer: Writer, keys: KeyStore, auth: Authenticator, metrics: ServiceMetrics, hub: Hub,
                 *, auth_threads: int = 4, max_auth_waiting: int = 256, publisher: readview.Publisher | None = None,
                 history: History | None = None):
        self.writer, self.keys, self.auth, self.metrics, self.hub = writer, keys, auth, metrics, hub
        #: the read side: published views and state hashes, and the journal on a connection of its own
        self.reads = publisher or readview.Publisher(writer)
        self.journal_reader = readview.ReadJournal(writer)
        #: counters, prices and insurance funds from the journal (rebuilt at start)
        self.history = history or History()
        self.auth_threads, self.max_auth_waiting = auth_threads, max_auth_waiting
        self._limiter: tuple[Any, Any] | None = None  # (event loop, anyio.CapacityLimiter)
        self._auth_waiting = 0

    def _auth_limiter(self):
        import anyio

        loop = asyncio.get_running_loop()
        if self._limiter is None or self._limiter[0] is not loop:
            self._limiter = (loop, anyio.CapacityLimiter(self.auth_threads))
        return self._limiter[1]

    async def authenticate(self, token: str | None, client: str | None = None) -> Principal:
        """The principal of ``token`` (see the module docstring): the cache on the loop, the throttle,
        then scrypt on a worker thread."""
        p = self.auth.cached(token)
        if p is not None:
            return p
        self.auth.precheck(token, client)  # 429 while throttled: no thread, no scrypt
        if self._auth_waiting >= self.max_auth_waiting:
            raise AuthError(429, "auth_busy", "too many authentications in progress; retry in a second", retry_after=1.0)
        import anyio

        self._auth_waiting += 1
        try:
            return await anyio.to_thread.run_sync(self.auth.verify, token, client, limiter=self._auth_limiter())
        finally:
            self._auth_waiting -= 1

    async def principal(self, token: str | None, action: str, cost: float = 1.0, client: str | None = None) -> Principal:
        """Authenticate, then authorise ``action`` (role and rate limit)."""
        p = await self.authenticate(token, client)
        self.auth.authorize(p, action, cost=cost)
        return p

    async def redeem_ticket(self, ticket: str) -> Principal:
        """The principal of a single-use stream ticket, its key re-checked for revocation."""
        p = self.auth.tickets.redeem(ticket)
        rec = await run_in_threadpool(self.keys.get, p.key_id)
        if rec is None or rec.revoked_ns is not None:
            raise AuthError(401, "revoked", f"API key {p.key_id} has been revoked")
        return p

    @property
    def counters(self) -> Counter[str]:
        """Effects journaled since the journal began, by kind (:data:`~ramparts.service.history.COUNTED`)."""
        return self.history.counters

    def on_commit(self, events: list[dict], outcomes: list, seconds: float, stats: Any) -> None:
        self.reads.committed()
        if stats is not None:
            self.metrics.observe_commit(events, outcomes, seconds, stats)
        self.history.commit(events, outcomes, stats and stats["meta"], stats and stats["insurance_units"])
        self.hub.publish(messages(events, outcomes))
        rejected = sum(1 for o in outcomes if not o.accepted)
        log.debug("commit", extra={"fields": {"events": len(events), "rejected": rejected, "seconds": round(seconds, 6)}})


def _commit_stats(engine, cache: dict) -> dict:
    """What the commit listeners need, on the writer thread: O(instruments), never O(accounts) (the
    at-risk gauges are computed from a view when ``/metrics`` is read). ``cache`` keeps the
    instrument table of :class:`~ramparts.service.history.Meta` until an instrument is listed."""
    from ramparts.service import views

    units = views.insurance_units(engine)
    scale = 10 ** engine.settlement.decimals if engine.settlement else 1
    if cache.get("list") is not engine.instruments or cache.get("n") != len(engine.instruments) \
            or cache.get("meta") is None or cache["meta"].settlement is not engine.settlement:
        cache["list"], cache["n"], cache["meta"] = engine.instruments, len(engine.instruments), Meta(engine.instruments, engine.settlement)
    return {"seq": engine.seq, "insurance_units": units, "insurance": {k: v / scale for k, v in units.items()}, "meta": cache["meta"]}


#: A journal of at most this many events has its history rebuilt before the service answers (a
#: longer one is rebuilt while it serves; ``/v1/history`` says ``ready``).
HISTORY_WAIT_EVENTS = 20_000


async def _rebuild_history(svc: Service, view: readview.ReadView) -> None:
    """Rebuild :attr:`Service.history` from journal rows 1 … ``view.seq`` on the journal reader's thread."""
    meta = Meta(view.instruments, view.settlement)
    t0 = time.perf_counter()
    try:
        rebuilt = await svc.journal_reader.run(History.rebuild, view.seq, meta, dict(view.insurance_units), svc.history.points)
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001 - the service runs without its history rather than not at all
        log.exception("the history could not be rebuilt from the journal")
        rebuilt = History(svc.history.points)
        rebuilt.seq = rebuilt.rebuilt_to = view.seq
    svc.history.adopt(rebuilt)
    log.info("history rebuilt", extra={"fields": {"to_seq": view.seq, "seconds": round(time.perf_counter() - t0, 3),
                                                  "mismatches": rebuilt.mismatches}})


def error_body(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """The HTTP status and JSON body of an error."""
    if isinstance(exc, AuthError):
        return exc.status, {"error": exc.reason, "field": None, "message": exc.message}
    if isinstance(exc, InvalidInput):  # 409 where the service marked it a refusal by the venue's state
        return getattr(exc, "status", 422), {"error": "invalid_input", "field": exc.field, "message": exc.message}
    if isinstance(exc, UnknownEntity):
        return 404, {"error": "unknown_entity", "field": exc.field, "message": exc.message}
    if isinstance(exc, Rejected):
        return 409, {"error": exc.reason, "field": None, "message": exc.message}
    if isinstance(exc, JournalConflict):
        return 409, {"error": "journal_conflict", "field": None, "message": exc.message}
    if isinstance(exc, readview.TooEarly):
        return 425, {"error": exc.reason, "field": None, "message": exc.message}
    if isinstance(exc, EventFailed):
        return 422, {"error": "event_failed", "field": None, "message": exc.message}
    if isinstance(exc, (JournalUnavailable, JournalCorrupt)):
        return 503, {"error": "journal_unavailable", "field": None, "message": str(exc)}
    if isinstance(exc, RampartsError):
        return 400, {"error": "bad_request", "field": None, "message": str(exc)}
    return 500, {"error": "internal", "field": None, "message": "internal error"}


def error_response(exc: RampartsError, path: str) -> JSONResponse:
    """The answer to a refusal (:func:`error_body`), with ``Retry-After`` where a rate limit, the failed-login
    throttle or an early read says when to retry; a 5xx is logged with the request's ``path``."""
    status, body = error_body(exc)
    headers = {"Retry-After": f"{max(1, round(exc.retry_after))}"} \
        if isinstance(exc, (AuthError, readview.TooEarly)) and exc.retry_after else None
    if status >= 500:
        log.error("request failed", extra={"fields": {"path": path, "error": body["message"]}})
    return JSONResponse(body, status_code=status, headers=headers)


def _validation_body(exc: RequestValidationError | ValidationError) -> dict[str, Any]:
    """The 422 body of a request (or a ``/v1/ingest`` frame) its schema refused: the first error's field and message."""
    errs = exc.errors()
    err = errs[0] if errs else {}
    loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
    return {"error": "invalid_input", "field": ".".join(loc) or None, "message": str(err.get("msg", "invalid request"))}


@lru_cache(maxsize=1)
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def create_app(journal_url: str, *, namespace: str = "ramparts", api_keys_store: str | KeyStore | None = None,
               durability: str = "full", snapshot_every: int = SNAPSHOT_EVERY, snapshot_interval_s: float = 0.0,
               bootstrap: list | None = None, rate_limit: tuple[float, float] = (100.0, 200.0), max_batch: int = 2048,
               max_clock_skew_s: float = 300.0, max_body_bytes: int = MAX_BODY_BYTES, max_ws_per_key: int = MAX_PER_KEY,
               ws_queue: int = QUEUE_SIZE, auth_throttle: FailureThrottle | None = None, auth_threads: int = 4,
               custody_cap: Any = None, view_budget: float = 0.01, hash_budget: float = 0.01, hash_mode: str = "auto",
               history_points: int = 5000, snapshot_mode: str = "auto") -> FastAPI:
    """The risk service over the journal at ``journal_url`` (SQLite path / ``sqlite:///`` or ``postgresql://``).

    ``api_keys_store`` is a :class:`KeyStore` or its URL (default: the journal's database and
    namespace). ``bootstrap`` are the events journaled when the journal is empty (default: a
    USDC genesis). ``rate_limit`` is (tokens per second, burst) per key; a rate of 0 disables it.
    ``max_clock_skew_s`` is the furthest a request's own ``ts`` may be ahead of the service's
    wall clock; ``snapshot_every`` (events, 0: never by count) and ``snapshot_interval_s`` (seconds,
    0: never by time) bound the replay at the next start (see :mod:`ramparts.service.writer`).
    ``max_body_bytes`` is the largest request body (413 beyond, :mod:`ramparts.service.guard`);
    ``max_ws_per_key`` and ``ws_queue`` bound the stream (:mod:`ramparts.service.stream`);
    ``auth_throttle`` is the failed-login back-off (default :class:`FailureThrottle` ``()``: 5 free
    failures per client address and per key id) and ``auth_threads`` the most scrypt
    verifications run at once. ``custody_cap`` is the most a custody key may move in one deposit or
    withdrawal (whole units; above it a risk officer's key is needed; None: no cap), see
    :mod:`ramparts.service.custody`. ``view_budget`` and ``hash_budget`` are the most of the writer
    thread's time the read side may take for views and for state hashes (fractions, default 1 % each),
    ``hash_mode`` how the hash is computed (``auto``/``fork``: in a forked child; ``inline``: on the
    writer thread), see :mod:`ramparts.service.readview`; ``history_points`` the points kept per
    series of :mod:`ramparts.service.history`; ``snapshot_mode`` where snapshots are encoded
    (``auto``/``fork``: a forked child, the writer pays only the fork; ``inline``: the writer thread).
    """
    keys = api_keys_store if isinstance(api_keys_store, KeyStore) else KeyStore(api_keys_store or journal_url, namespace=namespace)
    metrics = ServiceMetrics()
    meta_cache: dict = {}
    writer = Writer(journal_url, namespace=namespace, durability=durability, snapshot_every=snapshot_every,
                    snapshot_interval_s=snapshot_interval_s, bootstrap=bootstrap, max_batch=max_batch,
                    after_commit=lambda e: _commit_stats(e, meta_cache), max_clock_skew_ns=round(max_clock_skew_s * 10**9),
                    snapshot_mode=snapshot_mode)
    auth = Authenticator(keys, rate=rate_limit[0], burst=rate_limit[1], throttle=auth_throttle)
    publisher = readview.Publisher(writer, view_budget=view_budget, hash_budget=hash_budget, hash_mode=hash_mode)
    metrics.watch_reads(lambda: publisher.stats)
    svc = Service(writer, keys, auth, metrics, Hub(ws_queue, max_ws_per_key), auth_threads=auth_threads, publisher=publisher,
                  history=History(history_points))
    writer.listeners.append(svc.on_commit)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        rebuild: asyncio.Task | None = None
        try:
            await writer.start()
            await publisher.start()
            view = publisher.view
            metrics.journal_seq.set(view.seq)
            metrics.observe_risk(*readview.at_risk_counts(view))
            scale = 10 ** view.settlement.decimals if view.settlement else 1
            for fund, v in view.insurance_units.items():
                metrics.insurance_fund.labels(fund).set(v / scale)
            rec = writer.recovery or {}
            log.info("service started", extra={"fields": {"journal_seq": view.seq, "namespace": namespace,
                                                          "recovery_seconds": round(rec.get("seconds", 0.0), 6),
                                                          "replayed": rec.get("replayed"), "snapshot_seq": rec.get("snapshot_seq")}})
            rebuild = asyncio.create_task(_rebuild_history(svc, view), name="ramparts-history")
            if view.seq <= HISTORY_WAIT_EVENTS:  # a small journal: served only once its history is back
                await asyncio.shield(rebuild)
            yield
        finally:
            if rebuild is not None and not rebuild.done():
                rebuild.cancel()
            await publisher.stop()
            await writer.stop()
            await asyncio.get_running_loop().run_in_executor(None, svc.journal_reader.close)
            if not isinstance(api_keys_store, KeyStore):
                keys.close()

    app = FastAPI(title="ramparts risk service", version="1", lifespan=lifespan,
                  description="Margin and liquidation engine behind an append-before-acknowledge journal. "
                              "Authenticate with `X-API-Key: rk_...` (or `Authorization: Bearer rk_...`); keys in the URL "
                              "are refused. The WebSocket `/v1/stream` takes a single-use `?ticket=` from `POST /v1/tickets`.")
    app.state.svc = svc
    from ramparts.service.custody import CustodyDesk

    app.state.custody = CustodyDesk(keys, cap=custody_cap)
    from ramparts.service.api import HOT_ROUTES
    from ramparts.service.hot import HotRoutes
    from ramparts.service.reads import SeqHeader

    # outermost last: the guard, then the hot writes (answered without FastAPI's stack), then X-Ramparts-Seq on
    # every read's answer (the routes set it; a write, a guard's refusal or a hot answer never carries one)
    app.add_middleware(SeqHeader)
    app.add_middleware(HotRoutes, service=svc, routes=HOT_ROUTES)
    app.add_middleware(BodyGuard, service=svc, max_body_bytes=max_body_bytes)

    @app.exception_handler(RampartsError)
    async def _ramparts_error(request: Request, exc: RampartsError):
        return error_response(exc, request.url.path)

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
    from ramparts.service.reads import document_reads
    from ramparts.service.reads import router as reads_router

    app.include_router(router)
    app.include_router(reads_router)
    document_reads(app)
    from ramparts.service.api import answer_every_method

    answer_every_method(app)  # OPTIONS and 405 with the full Allow, once every documented route is in

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict:
        return {"ok": True}

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        view = await publisher.view_at()  # the at-risk gauges: from a view, never on the writer thread
        metrics.observe_risk(*await run_in_threadpool(readview.at_risk_counts, view))
        return Response(metrics.render(), media_type=metrics.content_type)

    @app.get("/", include_in_schema=False)
    async def dashboard() -> FileResponse:
        return FileResponse(STATIC / "dashboard.html", media_type="text/html", headers=DASHBOARD_HEADERS)

    @app.get("/static/dashboard.js", include_in_schema=False)
    async def dashboard_js() -> FileResponse:
        return FileResponse(STATIC / "dashboard.js", media_type="text/javascript", headers=SCRIPT_HEADERS)

    @app.get("/static/plotly.min.js", include_in_schema=False)
    async def plotly_js() -> Response:
        return Response(await run_in_threadpool(_plotly_js), media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=86400", **SCRIPT_HEADERS})

    @app.websocket("/v1/ingest")
    async def ingest(ws: WebSocket):
        await serve_ingest(ws, svc)

    @app.websocket("/v1/stream")
    async def stream(ws: WebSocket):
        await ws.accept()
        client = ws.client.host if ws.client else None
        try:
            ticket = ws.query_params.get("ticket")
            if ticket is not None and "key" not in ws.query_params:
                principal = await svc.redeem_ticket(ticket)
                svc.auth.authorize(principal, "stream")
            else:
                token = token_of(ws.headers.get("x-api-key"), ws.headers.get("authorization"), "key" in ws.query_params)
                principal = await svc.principal(token, "stream", client=client)
            q = svc.hub.subscribe(principal)
        except RampartsError as exc:
            status, body = error_body(exc)
            await ws.send_json({"type": "error", "error": body["error"], "message": body["message"]})
            await ws.close(code=4000 + status if status < 1000 else 1011, reason=_reason(body["message"]))
            return
        try:
            seq = writer.seq
            await ws.send_json({"type": "hello", "seq": seq, "role": principal.role, "ts": time.time_ns()})
            receiver = asyncio.ensure_future(_drain(ws))
            while True:
                getter = asyncio.ensure_future(q.get())
                done, _ = await asyncio.wait({getter, receiver}, return_when=asyncio.FIRST_COMPLETED)
                if receiver in done:
                    getter.cancel()
                    break
                msg = getter.result()
                if isinstance(msg, Dropped):
                    await ws.close(code=msg.code, reason=_reason(msg.reason))
                    break
                await ws.send_json(msg)
        except (WebSocketDisconnect, RuntimeError):
            pass
        finally:
            svc.hub.unsubscribe(q)

    return app


def _reason(text: str) -> str:
    """A WebSocket close reason: at most 123 bytes of UTF-8."""
    raw = text.encode()
    return text if len(raw) <= 123 else raw[:120].decode("utf-8", "ignore") + "..."


async def _drain(ws: WebSocket) -> None:
    """Read (and ignore) client frames until the socket closes."""
    try:
        while True:
            msg = await ws.receive()
            if msg["type"] == "websocket.disconnect":
                return
    except Exception:  # noqa: BLE001
        return


__all__ = ["DASHBOARD_HEADERS", "Service", "create_app", "error_body", "error_response"]
