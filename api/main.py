"""The application factory: `create_app(settings)` wires routers, middleware and error handlers.

The lifespan opens the database and migrates it (or refuses to start when the schema is behind
and auto-migration is off), loads the model in service (training the default one when the
registry is empty), warms jieba, and reads the escalation rules; then it starts the deadline sweep
(`api.deadline_sweeper`) and, while `TRIAGE_NOTIFY_URL` is set, the notification dispatcher
(`api.notifier`; the outbox rows are written by `api.services.outbox`, installed here on the
database's sessions), which it stops before closing the database. Nothing happens at import time;
`uvicorn --factory api.main:create_app` runs it. Whatever stops the start (a bad setting, API key,
database, model or rules file) is said in one line (`cannot_start`), without a traceback; anything
else is a bug, logged with its traceback.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from fastapi_offline import FastAPIOffline
from pydantic import ValidationError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from api.auth import KeyConfigError, load_key_ring
from api.db import Database, SchemaError
from api.deadline_sweeper import DeadlineSweeper
from api.deps import Services, known_query_only, role_refusal
from api.errors import ApiError, quoted
from api.metrics import Metrics
from api.middleware import (
    DOCS_ASSETS,
    HEAD_REQUEST,
    NO_SUCH_ROUTE,
    OPEN_PATHS,
    AuthMiddleware,
    BodyLimitMiddleware,
    HeadMiddleware,
    MetricsMiddleware,
    StartupFailureMiddleware,
    UnexpectedErrorMiddleware,
)
from api.notifier import Notifier
from api.routers import classify, console, events, health, me, model, notifications, review, stats, surveys, tickets
from api.services.backlog import TierBacklog, scrape_backlog
from api.services.escalation import EscalationConfigError, load_policy
from api.services.model_holder import ModelHolder
from api.services.outbox import OutboxBacklog, install_outbox, wake_on_commit
from api.services.outbox import scrape_backlog as scrape_outbox
from api.services.thresholds import Thresholds
from api.services.tracking import STAGES
from api.settings import Settings, settings_error
from model.errors import ModelError
from training.registry import Registry, RegistryError

log = logging.getLogger("api")

DESCRIPTION = """\
Classifies Chinese customer complaints, fills the complaint ticket (客户投诉登记表), routes it
to the responsible department with SLA due times, tracks it to closure (投诉处理进度跟踪表) and
records the satisfaction survey of each closure (满意度调查问卷).

Send an API key in `X-API-Key` (or `Authorization: Bearer <key>`). Every error body is
`{"detail": [{"loc": [...], "msg": "...", "type": "..."}]}` with `loc` naming the field.
"""


def _version() -> str:
    try:
        return package_version("complaint-triage")
    except PackageNotFoundError:
        return "0.1.0"


# What a failed start reports in one line: errors whose words name the setting, key, file, model,
# rules or database at fault. Anything else is a bug, reported with its traceback.
_SAID_IN_ONE_LINE = (
    ValidationError,
    KeyConfigError,
    ModelError,
    RegistryError,
    SchemaError,
    EscalationConfigError,
    OperationalError,
    InterfaceError,
    OSError,
)


def said_in_one_line(error: BaseException) -> bool:
    """Whether `cannot_start`'s line says all there is to say of a start that failed with `error`
    (a bad setting, file, model, rules file or database); otherwise its traceback is shown too."""
    return isinstance(error, _SAID_IN_ONE_LINE)


def cannot_start(error: Exception) -> str:
    """Why the ticket service cannot start, in one line (`triage serve`, a server's call of
    `create_app`, the lifespan): each bad setting named by its environment variable
    (`settings_error`), else the error's own words, which name the variable, key or file at fault;
    an unexpected error (`said_in_one_line` false) by its type too."""
    if isinstance(error, ValidationError):
        reason = settings_error(error)
    elif said_in_one_line(error):
        reason = str(error)
    else:
        reason = f"{type(error).__name__}: {error}"
    return f"the ticket service cannot start: {reason}"


def start_services(services: Services) -> str:
    """Open and migrate the database, load the model, read the rules (blocking; at start-up).
    Returns the version of the model in service."""
    settings = services.settings
    database = Database(settings.resolved_database_url)
    try:
        database.prepare(settings.auto_migrate)
        registry = Registry(settings.registry_root)
        if registry.current_path() is None and settings.train_default_model:
            from training.defaults import ensure_current_model

            log.info("no model in %s: training the default model from data/ (once; about half a minute)", registry.root)
            ensure_current_model(registry)
        holder = ModelHolder(registry, poll_seconds=settings.model_poll_seconds)
        loaded = holder.start()
        services.policy = load_policy(settings.escalation_rules, loaded.model.taxonomy)
    except BaseException:
        database.dispose()
        raise
    if settings.notify_enabled:
        install_outbox(database.sessions, database.sweep_sessions)
    services.thresholds = Thresholds(
        category=settings.threshold_category, subtype=settings.threshold_subtype, tier=settings.threshold_tier
    )
    services.database = database
    services.models = holder
    services.metrics.observe_model(loaded.version)
    return loaded.version


def announce(services: Services, version: str) -> None:
    """Log what the started service runs with (once per server process; `triage serve`'s own
    start-up check does not repeat it)."""
    roles = ", ".join(f"{role} {count}" for role, count in services.keys.roles().items())
    database = services.database.describe() if services.database else "none"
    log.info("ticket service ready: database %s, model %s, API keys: %s", database, version, roles)
    if services.models is not None and services.models.ready:
        from training.defaults import trained_on_team_corpus_only

        if trained_on_team_corpus_only(services.models.get().metadata):
            log.warning(
                "model %s was trained only on the team's own sample complaints in data/, not on labelled complaints "
                "of yours: train one with triage train --data CSV (docs/cli.md)",
                version,
            )
    if not len(services.keys):
        log.warning("no API keys configured (TRIAGE_API_KEYS / TRIAGE_API_KEYS_FILE): every /v1 route answers 401")


def read_backlog(services: Services) -> dict[str, TierBacklog] | None:
    """The open tickets per tier at the app's clock, for the metrics (every tier of the taxonomy of
    the model in service, zeros included); None while the database is not open."""
    if services.database is None:
        return None
    tiers = services.models.get().model.taxonomy.tiers if services.models is not None and services.models.ready else ()
    settings = services.settings
    return scrape_backlog(
        services.database,
        now=services.clock(),
        share=settings.deadline_warning_share,
        timeout=settings.metrics_query_timeout_seconds,
        tiers=tiers,
    )


def read_outbox(services: Services) -> OutboxBacklog | None:
    """The outbox's undelivered notifications at the app's clock, for the metrics; None while the
    database is not open."""
    if services.database is None:
        return None
    timeout = services.settings.metrics_query_timeout_seconds
    return scrape_outbox(services.database, now=services.clock(), timeout=timeout)


def stop_services(services: Services) -> None:
    """Release the database connections."""
    if services.models is not None:
        services.models.wait()
    if services.database is not None:
        services.database.dispose()


def _error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status_code, headers=error.headers or None)


async def _api_error(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiError)
    return _error_response(error)


def _is_json(content_type: str) -> bool:
    media = content_type.split(";")[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


def _clean_validation_item(error: dict[str, Any]) -> dict[str, Any]:
    """One validation error without the echoed input; tagged-union locations made readable."""
    loc = list(error.get("loc", ()))
    kind = str(error.get("type", "value_error"))
    msg = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
    context = error.get("ctx") or {}
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        loc.append(str(context.get("discriminator", "")).strip("'\"") or "stage")
    elif len(loc) >= 3 and loc[0] == "body" and loc[1] in STAGES:
        del loc[1]
    if kind == "json_invalid":
        position = loc[1] if len(loc) > 1 else "?"
        msg = f"malformed JSON at character {position}: {context.get('error', 'decode error')}"
        loc = ["body"]
    item: dict[str, Any] = {"loc": loc, "msg": msg, "type": kind}
    if kind == "string_too_long" and isinstance(context.get("max_length"), int):
        item["max_length"] = context["max_length"]  # as the service's own length checks give it
    return item


async def _validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    # FastAPI reads and validates the body before it runs a route's dependencies, so a caller
    # without the role would otherwise be told about its body rather than that it may not use the route.
    refusal = role_refusal(request)
    if refusal is not None:
        return _error_response(refusal)
    errors = list(error.errors())
    content_type = request.headers.get("content-type", "")
    body_error = any(tuple(item.get("loc", ()))[:1] == ("body",) for item in errors)
    has_body = request.headers.get("content-length", "0") != "0" or "transfer-encoding" in request.headers
    if request.method in ("POST", "PUT", "PATCH") and body_error and has_body and not _is_json(content_type):
        detail = [
            {
                "loc": ["header", "Content-Type"],
                "msg": f"expected Content-Type: application/json, got {quoted(content_type or 'none')}",
                "type": "wrong_content_type",
            }
        ]
    else:
        detail = [_clean_validation_item(item) for item in errors]
    return JSONResponse({"detail": detail}, status_code=422)


def _why_unparsable(cause: BaseException | None) -> str:
    """What made a request body unreadable as JSON, in a few words."""
    if isinstance(cause, UnicodeDecodeError):
        return "the body is not UTF-8"
    if isinstance(cause, RecursionError):
        return "arrays or objects nest too deeply"
    if isinstance(cause, ValueError) and "digits" in str(cause):
        return "a number has more digits than a JSON number may have here (4,300)"
    return "the body could not be parsed"


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route of the app serves at the request's path (HEAD with GET, see
    `HeadMiddleware`). Starlette's own 405 names only the first route's methods, though a path
    such as /v1/tickets has a POST and a GET route."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        if route.path and route.methods and compile_path(route.path)[0].fullmatch(request.url.path):
            methods |= route.methods
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


async def _http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    if error.status_code == 400 and "parsing the body" in str(error.detail):
        # FastAPI's answer to a body its JSON parser gave up on, the parser's error as its cause:
        # a malformed-JSON 422 like the others, saying why.
        message = f"malformed JSON: {_why_unparsable(error.__cause__)}"
        body = {"detail": [{"loc": ["body"], "msg": message, "type": "json_invalid"}]}
        return JSONResponse(body, status_code=422)
    kind = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
    message = NO_SUCH_ROUTE if error.status_code == 404 else str(error.detail)
    loc = ["path"] if error.status_code == 404 else []
    headers = getattr(error, "headers", None)
    if error.status_code == 405:
        allowed = _allowed_methods(request)
        method = "HEAD" if request.scope.get(HEAD_REQUEST) else request.method
        message = f"{method} is not served at {request.url.path}; allowed: {', '.join(allowed)}"
        headers = {**(headers or {}), "Allow": ", ".join(allowed)}
    body = {"detail": [{"loc": loc, "msg": message, "type": kind}]}
    return JSONResponse(body, status_code=error.status_code, headers=headers)


async def _database_error(request: Request, error: Exception) -> JSONResponse:
    log.error("database unavailable during %s %s: %s", request.method, _template(request), type(error).__name__)
    unavailable = ApiError("the database is unavailable; nothing was written, retry later", type="database_unavailable")
    unavailable.status_code = 503
    response = _error_response(unavailable)
    response.headers["Retry-After"] = "5"
    return response


async def _model_error(request: Request, error: Exception) -> JSONResponse:
    log.error("model unavailable during %s %s: %s", request.method, _template(request), type(error).__name__)
    unavailable = ApiError("no model is available; retry later", type="model_unavailable")
    unavailable.status_code = 503
    return _error_response(unavailable)


def _template(request: Request) -> str:
    route = request.scope.get("route")
    return str(getattr(route, "path", "<unmatched>"))


async def _unexpected(request: Request, error: Exception) -> JSONResponse:
    # The message may hold request data: log the type and the stack, never the message.
    frames = "".join(traceback.format_tb(error.__traceback__))
    log.error("unhandled %s in %s %s\n%s", type(error).__name__, request.method, _template(request), frames)
    body = {"detail": [{"loc": [], "msg": "internal error; the request was not applied", "type": "internal_error"}]}
    return JSONResponse(body, status_code=500)


def _openapi(app: FastAPI) -> Callable[[], dict[str, Any]]:
    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            schema.setdefault("components", {})["securitySchemes"] = {
                "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "Bearer": {"type": "http", "scheme": "bearer"},
            }
            for path, operations in schema.get("paths", {}).items():
                if path in OPEN_PATHS:
                    continue
                for operation in operations.values():
                    operation["security"] = [{"ApiKey": []}, {"Bearer": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    return build


def create_app(settings: Settings | None = None, *, clock: Callable[[], datetime] | None = None) -> FastAPI:
    """Build the ticket service. `clock` (aware UTC now) is for tests of due times.

    Without `settings` (a server's call: `uvicorn api.main:create_app --factory`) they are read from
    the environment, and a bad one (a value pydantic refuses, a malformed API key) ends the process
    with one line on stderr naming its variable (`cannot_start`) and exit status 1, not a traceback;
    given `settings`, the error is raised.
    """
    from_environment = settings is None
    try:
        settings = settings or Settings()
        api_keys = settings.api_keys.get_secret_value() if settings.api_keys is not None else None
        keys = load_key_ring(api_keys, settings.api_keys_file)
    except (ValidationError, KeyConfigError) as error:
        if not from_environment:
            raise
        print(f"error: {cannot_start(error)}", file=sys.stderr)
        raise SystemExit(1) from None
    services = Services(
        settings=settings,
        keys=keys,
        metrics=Metrics(),
        clock=clock or (lambda: datetime.now(UTC)),
    )
    services.metrics.track_backlog(lambda: read_backlog(services))
    if settings.notify_enabled:
        services.metrics.track_outbox(lambda: read_outbox(services))

    @asynccontextmanager
    async def lifespan(application: FastAPI) -> AsyncIterator[None]:
        sweeper: DeadlineSweeper | None = None
        notifier: Notifier | None = None
        unhook: list[Callable[[], None]] = []
        try:
            version = start_services(services)
            announce(services, version)
            # Build every route's validators now: FastAPI builds them lazily on the first request,
            # and concurrent first requests race while doing it.
            for _ in iter_route_contexts(application.routes):
                pass
            interval = services.settings.deadline_sweep_seconds
            sweeper = DeadlineSweeper(services, interval) if interval > 0 else None
            if sweeper is not None:
                sweeper.start()
            every = services.settings.notify_interval_seconds
            notifier = Notifier(services, every) if services.settings.notify_enabled and every > 0 else None
            if notifier is not None:
                notifier.start()
                database = services.database
                assert database is not None
                factories = (database.sessions, database.sweep_sessions)
                unhook = [wake_on_commit(factory, notifier.wake) for factory in factories]
        except Exception as error:
            # Said here, in one line, or with the traceback of a bug; the server is told only that
            # the start failed (StartupFailureMiddleware), so the traceback is not printed twice.
            log.error("%s", cannot_start(error), exc_info=not said_in_one_line(error))
            raise
        try:
            yield
        finally:
            for undo in unhook:
                undo()
            if notifier is not None:
                await notifier.stop()
            if sweeper is not None:
                await sweeper.stop()
            stop_services(services)

    # /docs and /redoc load Swagger UI and ReDoc from the package's files, not a CDN (an intranet).
    app = FastAPIOffline(
        title="Complaint triage — ticket service",
        version=_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
        static_url=DOCS_ASSETS,
    )
    app.state.services = services
    versioned = (
        classify.router,
        tickets.router,
        events.router,
        surveys.router,
        model.router,
        review.router,  # POST /v1/tickets/{no}/review, GET /v1/review-queue
        stats.router,  # GET /v1/stats, GET /v1/stats/drift
        notifications.router,  # GET /v1/notifications
        me.router,  # GET /v1/me: the caller's role
    )
    for router in versioned:
        app.include_router(router, dependencies=[Depends(known_query_only)])
    app.include_router(health.router)
    app.include_router(console.router)  # GET /console: the agents' page (open; its API calls carry the key)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(OperationalError, _database_error)
    app.add_exception_handler(InterfaceError, _database_error)
    app.add_exception_handler(PoolTimeout, _database_error)  # no connection free within the pool's timeout
    app.add_exception_handler(ModelError, _model_error)
    # added last = outermost: metrics see every response, auth runs before the body is read
    app.add_middleware(HeadMiddleware)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(AuthMiddleware, keys=services.keys, routes=app.router.routes)
    app.add_middleware(MetricsMiddleware, metrics=services.metrics)
    app.add_middleware(UnexpectedErrorMiddleware, respond=_unexpected)  # metrics count its 500s
    app.add_middleware(StartupFailureMiddleware)
    app.openapi = _openapi(app)  # type: ignore[method-assign]
    return app
