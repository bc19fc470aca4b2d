"""The request guard of the risk service: where a key may come from, authentication before the body, the body limit.

This module owns two rules that hold before any route runs:

* **API keys travel in headers only** (:func:`token_of`): ``X-API-Key: rk_...`` or
  ``Authorization: Bearer rk_...``. A key in the URL (``?key=``) ends up in access logs, proxies'
  logs and browser history, so it is refused (401 ``key_in_url``, the message says to use the
  header). Browsers, which cannot put headers on a WebSocket, get a single-use ticket from
  ``POST /v1/tickets`` and open ``/v1/stream?ticket=``.
* :class:`BodyGuard`, a pure ASGI middleware, checks a request body's size **after authentication
  and before anything parses it**: a request to ``/v1/...`` that carries a body (a
  ``Content-Length`` above 0, or ``Transfer-Encoding``) is authenticated first from its headers (no
  valid key: 401, or 429 while throttled, and not one byte of the body is read); then a declared
  ``Content-Length`` above ``max_body_bytes`` (default :data:`MAX_BODY_BYTES`, 1 MiB; ``ramparts
  serve --max-body-bytes``) is refused at once, and a streamed body is counted as it arrives and
  refused as soon as it passes the limit: 413 ``body_too_large``. The accepted body is handed to the
  app as read. Every refusal is the service's JSON error body ``{"error", "field", "message"}``.
"""

from __future__ import annotations

import json
from typing import Any

from ramparts.errors import RampartsError
from ramparts.service.auth import AuthError

#: Default largest request body, in bytes.
MAX_BODY_BYTES = 1024 * 1024

KEY_IN_URL = ("API keys are not accepted in the URL (they end up in logs and browser history): send the key in the "
              "X-API-Key header (or Authorization: Bearer); a browser's WebSocket uses POST /v1/tickets and ?ticket=")


def token_of(x_api_key: str | None, authorization: str | None, key_in_query: bool) -> str | None:
    """The presented token: the ``X-API-Key`` header, else a Bearer ``Authorization``; raises
    :class:`AuthError` 401 ``key_in_url`` when the query string has a ``key``."""
    if key_in_query:
        raise AuthError(401, "key_in_url", KEY_IN_URL)
    if x_api_key:
        return x_api_key
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and credentials.strip():
            return credentials.strip()
    return None


def _has_key_param(query_string: bytes) -> bool:
    from urllib.parse import parse_qsl

    try:
        return any(k == "key" for k, _ in parse_qsl(query_string.decode("latin-1"), keep_blank_values=True))
    except ValueError:
        return False


def request_token(headers: dict[bytes, bytes], query_string: bytes) -> str | None:
    """:func:`token_of` for a raw ASGI request: ``headers`` by lower-case name (the first of each), the raw
    ``query_string``."""
    return token_of(headers.get(b"x-api-key", b"").decode("latin-1") or None,
                    headers.get(b"authorization", b"").decode("latin-1") or None,
                    bool(query_string) and _has_key_param(query_string))


async def send_error(send, status: int, body: dict[str, Any], retry_after: float | None = None) -> None:
    """Send a complete JSON error response on a raw ASGI ``send``."""
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    if retry_after:
        headers.append((b"retry-after", str(max(1, round(retry_after))).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


class BodyGuard:
    """Pure ASGI middleware: authentication before the body, then the body limit (see the module docstring).

    ``service`` is the app's :class:`~ramparts.service.app.Service` (its ``authenticate``).
    """

    def __init__(self, app, *, service, max_body_bytes: int = MAX_BODY_BYTES):
        if max_body_bytes < 1:
            raise ValueError(f"max_body_bytes must be at least 1, got {max_body_bytes}")
        self.app, self.service, self.max_body_bytes = app, service, int(max_body_bytes)

    def _too_large(self) -> dict[str, Any]:
        return {"error": "body_too_large", "field": None,
                "message": f"the request body is larger than {self.max_body_bytes} bytes (the service's --max-body-bytes)"}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = request_headers(scope)
        length_header = headers.get(b"content-length")
        streamed = b"transfer-encoding" in headers
        if length_header is None and not streamed:
            await self.app(scope, receive, send)
            return
        length = None
        if length_header is not None:
            try:
                length = int(length_header)
                if length < 0:
                    raise ValueError
            except ValueError:
                await send_error(send, 400, {"error": "bad_request", "field": None, "message": "malformed Content-Length"})
                return
            if length == 0 and not streamed:
                await self.app(scope, receive, send)
                return
        if scope.get("path", "").startswith("/v1/"):
            from ramparts.service.app import error_body

            client = scope.get("client")
            try:
                token = request_token(headers, scope.get("query_string", b""))
                await self.service.authenticate(token, client[0] if client else None)
            except RampartsError as exc:
                status, body = error_body(exc)
                await send_error(send, status, body, getattr(exc, "retry_after", None))
                return
        if length is not None and length > self.max_body_bytes:
            await send_error(send, 413, self._too_large())
            return
        try:
            body = await read_body(receive, self.max_body_bytes)
        except BodyTooLarge:
            await send_error(send, 413, self._too_large())
            return
        if body is None:
            return  # the client went away: nobody to answer
        await self.app(scope, replaying(body, receive), send)


class BodyTooLarge(Exception):
    """A streamed request body passed the limit :func:`read_body` was given."""


def request_headers(scope) -> dict[bytes, bytes]:
    """A raw ASGI request's headers by lower-case name, the first of each (as Starlette's ``headers.get``)."""
    headers: dict[bytes, bytes] = {}
    for name, value in scope.get("headers") or ():
        headers.setdefault(name.lower(), value)
    return headers


async def read_body(receive, limit: int | None = None) -> bytes | None:
    """A raw ASGI request's body, read whole from ``receive``; ``None`` if the client went away first; raises
    :class:`BodyTooLarge` as soon as it passes ``limit`` bytes (no limit: ``None``)."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body += message.get("body", b"")
        if limit is not None and len(body) > limit:
            raise BodyTooLarge(limit)
        if not message.get("more_body", False):
            return bytes(body)


def replaying(body: bytes, receive):
    """An ASGI ``receive`` that hands the app ``body``, already read, as one message, then defers to ``receive``
    (what the server says next: a disconnect)."""
    replayed = False

    async def replay() -> dict[str, Any]:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


__all__ = ["KEY_IN_URL", "MAX_BODY_BYTES", "BodyGuard", "BodyTooLarge", "read_body", "replaying", "request_headers",
           "request_token", "send_error", "token_of"]
