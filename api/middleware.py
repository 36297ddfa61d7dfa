"""ASGI middleware: unexpected errors, request metrics, authentication, the request-body size limit, HEAD,
and a failed start said without a traceback.

Authentication runs before anything reads the request, so a request without a valid key gets a
401 on every path but the open ones, whatever its body; roles are checked per route by the
`require_role` dependency (403). A path that no route serves is a 404 with or without a key, so that
a mistyped probe (`/health`, `/doc`) does not read as a problem with the key.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.auth import KeyRing
from api.errors import ApiError, NotFound, PayloadTooLarge, Unauthorized
from api.metrics import Metrics

PRINCIPAL = "triage.principal"
DOCS_ASSETS = "/static-offline-docs"
"""Where `fastapi_offline.FastAPIOffline` serves the docs pages' files (its default)."""
HEAD_REQUEST = "triage.head_request"
OPEN_PATHS = frozenset(
    {"/", "/healthz", "/readyz", "/metrics", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
    # the docs pages' script, style sheet and icon, from the fastapi-offline package (no CDN)
    | {
        f"{DOCS_ASSETS}/{name}"
        for name in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js", "favicon.png")
    }
    # the agents' console: static files holding no data (its API calls carry the key)
    | {"/console", "/console/", "/console/console.js", "/console/console-stats.js", "/console/console.css"}
)


async def _reject(error: ApiError, scope: Scope, receive: Receive, send: Send) -> None:
    response = JSONResponse(error.body(), status_code=error.status_code, headers=error.headers)
    await response(scope, receive, send)


class StartupFailureMiddleware:
    """A failed start is said once: the lifespan logs why (`api.main.cannot_start`; a bug with its
    traceback), and the server is told only that the start failed, without the traceback Starlette
    sends with it (which uvicorn would print after the line, then exit)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return

        async def send_without_traceback(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed":
                message = {"type": message["type"], "message": ""}
            await send(message)

        await self.app(scope, receive, send_without_traceback)


class UnexpectedErrorMiddleware:
    """Answers an exception that no handler took with `respond`'s response (a 500), and ends there.

    Starlette's own last resort re-raises the exception after answering, so that the server logs
    it with its message, and a message may hold request data (a driver's error quotes the value it
    refused); `respond` logs the type and the stack only. An exception raised after the response
    has started is left to the server: there is nothing left to answer with.
    """

    def __init__(self, app: ASGIApp, respond: Callable[[Request, Exception], Awaitable[Response]]) -> None:
        self.app = app
        self.respond = respond

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def send_started(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_started)
        except Exception as error:
            if started:
                raise
            response = await self.respond(Request(scope), error)
            await response(scope, receive, send)


class MetricsMiddleware:
    """Counts every HTTP request by method, route template and status, with its latency."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method = scope["method"]
        status = 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or "<unmatched>"
            self.metrics.observe_request(method, template, status, time.perf_counter() - started)


def _headers(scope: Scope) -> Iterator[tuple[bytes, str]]:
    """The request's headers: each name in lower case, with its value."""
    headers: Iterable[tuple[bytes, bytes]] = scope.get("headers", [])
    for name, value in headers:
        yield name.lower(), value.decode("latin-1")


def _header(scope: Scope, name: bytes) -> str | None:
    return next((value for key, value in _headers(scope) if key == name), None)


def presented_keys(scope: Scope) -> set[str]:
    """Every distinct key the request presents, in X-API-Key and Authorization: Bearer headers."""
    keys = set()
    for name, raw in _headers(scope):
        value = raw.strip()
        if name == b"x-api-key" and value:
            keys.add(value)
        elif name == b"authorization":
            scheme, _, credentials = value.partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                keys.add(credentials.strip())
    return keys


# Authorization schemes named back to a client that sent one (IANA's registry and common others);
# another first word may be the start of a key, and is not quoted.
_SCHEMES = {
    name.lower(): name
    for name in (
        "Basic", "Digest", "Negotiate", "NTLM", "Token", "ApiKey", "Api-Key", "OAuth", "DPoP", "GNAP", "HOBA",
        "Mutual", "Concealed", "PrivateToken", "SCRAM-SHA-1", "SCRAM-SHA-256", "AWS4-HMAC-SHA256", "vapid",
    )
}  # fmt: skip
SEND_A_KEY = "send the API key in the X-API-Key header or as Authorization: Bearer <key>"


def missing_key(scope: Scope) -> Unauthorized:
    """The 401 of a request that presents no key, saying what it sent instead: an Authorization
    header of another scheme (Basic, a key without "Bearer "), or nothing. Only a scheme's name is
    quoted, never what follows it (it may be a password or a key)."""
    sent = [value.strip() for name, value in _headers(scope) if name == b"authorization"]
    loc = ["header", "Authorization"] if sent else ["header", "X-API-Key"]
    if not sent:
        message = f"missing API key: {SEND_A_KEY}"
    else:
        scheme = sent[0].partition(" ")[0]
        if not sent[0]:
            message = f"the Authorization header is empty; {SEND_A_KEY}"
        elif scheme.lower() == "bearer":
            message = f"the Authorization header says Bearer but holds no key after it; {SEND_A_KEY}"
        elif scheme.lower() in _SCHEMES:
            message = f"Authorization: {_SCHEMES[scheme.lower()]} is not accepted here; {SEND_A_KEY}"
        else:
            message = f'the Authorization header does not start with "Bearer "; {SEND_A_KEY}'
    error = Unauthorized(message, loc=loc, type="missing_api_key")
    error.headers["WWW-Authenticate"] = "Bearer"
    return error


NO_SUCH_ROUTE = "no such route"


def _matched(scope: Scope, routes: Sequence[BaseRoute], path: str) -> bool:
    """Whether a route serves `path`, by any method (a wrong one is a 405, after the key)."""
    candidate = {**scope, "path": path}
    return any(route.matches(candidate)[0] is not Match.NONE for route in routes)


def _redirected(scope: Scope, routes: Sequence[BaseRoute]) -> bool:
    """Whether the router will answer the path with a redirect to a route's path, the path's
    trailing slash added or dropped (as Starlette's router does): a redirect holds no data."""
    path = scope["path"]
    if path == "/" or _matched(scope, routes, path):
        return False
    return _matched(scope, routes, path.rstrip("/") if path.endswith("/") else path + "/")


class AuthMiddleware:
    """401 for a missing or unknown key on every path a route serves except the open ones, 404 on a
    path no route serves (key or not), the router's trailing-slash redirect for either; stores the
    principal."""

    def __init__(self, app: ASGIApp, keys: KeyRing, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.keys = keys
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        if _redirected(scope, self.routes):
            await self.app(scope, receive, send)
            return
        if not _matched(scope, self.routes, scope["path"]):
            await _reject(NotFound(NO_SUCH_ROUTE, loc=["path"]), scope, receive, send)
            return
        keys = presented_keys(scope)
        if len(keys) > 1:
            error = Unauthorized(
                "more than one API key: send one X-API-Key (or Authorization) header",
                loc=["header", "X-API-Key"],
                type="invalid_api_key",
            )
            await _reject(error, scope, receive, send)
            return
        key = next(iter(keys), None)
        if key is None:
            await _reject(missing_key(scope), scope, receive, send)
            return
        principal = self.keys.authenticate(key)
        if principal is None:
            error = Unauthorized("invalid API key", loc=["header", "X-API-Key"], type="invalid_api_key")
            error.headers["WWW-Authenticate"] = "Bearer"
            await _reject(error, scope, receive, send)
            return
        scope[PRINCIPAL] = principal
        await self.app(scope, receive, send)


class HeadMiddleware:
    """HEAD wherever GET is served: the request runs as a GET and only its status and headers
    are sent (FastAPI does not add HEAD to GET routes; load balancers and uptime checkers send
    it). `HEAD_REQUEST` in the scope tells error handlers the method the client used."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        # A copy: the server's own scope must keep saying HEAD (uvicorn's httptools protocol then
        # expects no body). The matched route is copied back for the metrics outside.
        child = {**scope, "method": "GET", HEAD_REQUEST: True}
        try:
            await self.app(child, receive, headers_only)
        finally:
            if "route" in child:
                scope["route"] = child["route"]


class BodyLimitMiddleware:
    """413 for a request body over `max_bytes` (by Content-Length, or counted while reading)."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge(
            f"the request body is larger than {self.max_bytes} bytes", loc=["body"], limit=self.max_bytes
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        length = _header(scope, b"content-length")
        if length is not None and length.strip().isdigit() and int(length) > self.max_bytes:
            await _reject(self._too_large(), scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await _reject(self._too_large(), scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
