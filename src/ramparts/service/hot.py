"""The hot write routes (``POST /v1/fills``, ``POST /v1/prices``) answered without FastAPI's per-request machinery.

A matching engine posting one fill a request spends most of the service's time in FastAPI's dependency
resolution, route matching and middleware stack, not in the engine (profiled with ``py-spy --gil``: about
two thirds of the event loop's share of the GIL). :class:`HotRoutes` is a pure ASGI layer, inside the
:class:`~ramparts.service.guard.BodyGuard` (so keys are checked and the body limited before it) and in front of
the app's router, that answers a request of a route in :data:`ramparts.service.api.HOT_ROUTES` itself when it
is the ordinary case, and hands **everything else to the documented FastAPI route unchanged**:

* taken here: ``POST`` to the exact path, no query string, ``Content-Type: application/json``, a body that
  ``json.loads`` reads and the route's own request model accepts (the same validation FastAPI runs:
  ``model_validate`` of the parsed object, from attributes);
* then, as the FastAPI route does: the key authorised for the route's action (:meth:`Service.principal`:
  role and rate limit), the route's own body (:class:`HotRoute` ``handle``, the function the FastAPI route
  calls too), and the answer written with the route's response model (pydantic's ``dump_json``, FastAPI's own
  serialiser for a response model) and status; a refusal is the app's error answer
  (:func:`ramparts.service.app.error_response`), any other exception goes up to the app's 500 handler;
* handed to the FastAPI route, with the body replayed as read: anything else (another method, a query string,
  another content type, unreadable JSON, a body the schema refuses), so every error answer, 422 included, is
  the documented route's own.

The OpenAPI schema is the FastAPI route's (this layer adds no route); ``tests/test_service_hot.py`` holds the two
answers byte for byte equal (status, headers, body, and the journal they leave) over valid and refused requests.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple

from pydantic import BaseModel, TypeAdapter

from ramparts.errors import RampartsError
from ramparts.service.guard import read_body, replaying, request_headers, request_token


class HotRoute(NamedTuple):
    """One route this layer may answer: its request ``model``, the ``action`` its key needs, the ``status`` of
    its answer, its ``response`` model and ``handle(service, request) -> response`` (the FastAPI route's body)."""

    model: type[BaseModel]
    action: str
    status: int
    response: type[BaseModel]
    handle: Callable[[Any, Any], Awaitable[BaseModel]]


def _is_json(content_type: bytes | None) -> bool:
    return content_type is not None and content_type.split(b";", 1)[0].strip().lower() == b"application/json"


class HotRoutes:
    """Pure ASGI middleware (see the module docstring): ``routes`` maps a path to its :class:`HotRoute`;
    ``service`` is the app's :class:`~ramparts.service.app.Service`."""

    def __init__(self, app, *, service, routes: dict[str, HotRoute]):
        self.app, self.service = app, service
        self.routes = dict(routes)
        self._dump = {path: TypeAdapter(r.response).dump_json for path, r in self.routes.items()}
        self.answered = 0  # requests answered here (the rest went to the FastAPI routes)

    async def __call__(self, scope, receive, send) -> None:
        route = self.routes.get(scope.get("path")) if scope["type"] == "http" and scope.get("method") == "POST" else None
        if route is None or scope.get("query_string") or scope.get("root_path"):
            await self.app(scope, receive, send)
            return
        headers = request_headers(scope)
        if not _is_json(headers.get(b"content-type")):
            await self.app(scope, receive, send)
            return
        body = await read_body(receive)  # (the guard in front of this layer limited it)
        if body is None:
            return  # the client went away: nobody to answer
        try:
            req = route.model.model_validate(json.loads(body), from_attributes=True)
        except Exception:  # noqa: BLE001 - any refusal is the documented route's to answer
            await self.app(scope, replaying(body, receive), send)
            return
        from ramparts.service.app import error_response

        client = scope.get("client")
        try:
            await self.service.principal(request_token(headers, b""), route.action, client=client[0] if client else None)
            answer = await route.handle(self.service, req)
        except RampartsError as exc:
            self.answered += 1
            await error_response(exc, scope.get("path", ""))(scope, receive, send)
            return
        self.answered += 1
        payload = self._dump[scope["path"]](answer, by_alias=True)
        await send({"type": "http.response.start", "status": route.status,
                    "headers": [(b"content-length", str(len(payload)).encode()), (b"content-type", b"application/json")]})
        await send({"type": "http.response.body", "body": payload})


__all__ = ["HotRoute", "HotRoutes"]
