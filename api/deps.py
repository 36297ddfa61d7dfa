"""FastAPI dependencies, declared once as `Annotated` aliases and reused in route signatures.

`require_role(*roles)` is the per-route authorisation: the authentication middleware has
already turned the API key into a `Principal`; the guard answers 403 when its role is not one
of `roles` (admin may do everything). Which roles may use what:

| route | roles (and admin) |
|---|---|
| POST /v1/classify, /v1/classify/batch | intake, analyst |
| POST /v1/tickets | intake |
| GET /v1/tickets, /v1/tickets/{ticket_no} | agent, analyst (the contact: agent only) |
| POST /v1/tickets/{ticket_no}/events | agent |
| POST /v1/tickets/{ticket_no}/survey | agent, intake |
| GET /v1/model | analyst, agent |
| POST /v1/tickets/{ticket_no}/review, GET /v1/review-queue | agent |
| GET /v1/stats, /v1/stats/drift | analyst |
| GET /v1/notifications | agent, analyst |
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, Header, Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy.orm import Session

from api.auth import KeyRing, Principal
from api.db import POOL_OVERFLOW, POOL_SIZE, Database
from api.errors import ApiError, Forbidden, InvalidInput, Unauthorized, Unavailable, quoted
from api.metrics import Metrics
from api.middleware import PRINCIPAL
from api.services.escalation import EscalationPolicy
from api.services.model_holder import LoadedModel, ModelHolder
from api.services.thresholds import Thresholds
from api.services.tickets import IF_MATCH
from api.settings import Settings


@dataclass
class Services:
    """What the lifespan builds and every request shares (in `app.state.services`)."""

    settings: Settings
    keys: KeyRing
    metrics: Metrics
    clock: Callable[[], datetime]
    database: Database | None = None
    models: ModelHolder | None = None
    policy: EscalationPolicy | None = None
    thresholds: Thresholds | None = None


def get_services(request: Request) -> Services:
    """The app's shared services."""
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


def get_settings(services: ServicesDep) -> Settings:
    """The settings of the app."""
    return services.settings


def get_session(services: ServicesDep) -> Iterator[Session]:
    """A database session for one request (rolled back unless the handler committed)."""
    if services.database is None:
        raise Unavailable("the service is starting", type="database_unavailable")
    with services.database.session() as session:
        yield session


def get_model(services: ServicesDep) -> LoadedModel:
    """The model in service, fixed for the whole request."""
    if services.models is None or not services.models.ready:
        raise Unavailable("no model is loaded", type="model_unavailable")
    loaded = services.models.get()
    services.metrics.observe_model(loaded.version)
    return loaded


def get_policy(services: ServicesDep) -> EscalationPolicy:
    """The escalation rules and emotion index."""
    if services.policy is None:
        raise Unavailable("the service is starting", type="model_unavailable")
    return services.policy


def get_thresholds(services: ServicesDep, loaded: Annotated[LoadedModel, Depends(get_model)]) -> Thresholds:
    """The review thresholds of the request's model: its own `thresholds.json`, else the settings'."""
    if loaded.thresholds is not None:
        return loaded.thresholds
    if services.thresholds is None:
        raise Unavailable("the service is starting", type="model_unavailable")
    return services.thresholds


def get_now(services: ServicesDep) -> datetime:
    """The request's time (aware, UTC), from the app's clock."""
    return services.clock()


SettingsDep = Annotated[Settings, Depends(get_settings)]
# The session ends with the handler (scope "function"), before the response is serialised: a
# serialisation waits for a worker thread, and must not hold a connection while it waits. At most
# the pool's capacity of requests hold a session at once; the others wait without a thread. (With
# the defaults, 150 concurrent reads waited 30 s for the pool and 74 of them failed.)
SessionDep = Annotated[Session, Depends(get_session, scope="function", max_concurrency=POOL_SIZE + POOL_OVERFLOW)]
ModelDep = Annotated[LoadedModel, Depends(get_model)]
PolicyDep = Annotated[EscalationPolicy, Depends(get_policy)]
ThresholdsDep = Annotated[Thresholds, Depends(get_thresholds)]
NowDep = Annotated[datetime, Depends(get_now)]


def if_match(
    lines: Annotated[
        list[str] | None,
        Header(alias=IF_MATCH, description="The ETag of the ticket as read: 412 if it changed since."),
    ] = None,
) -> str | None:
    """The If-Match header, its field lines joined into one list (RFC 9110 5.3: `If-Match: "1"`
    and `If-Match: "2"` on two lines mean `If-Match: "1", "2"`); None when absent."""
    return ", ".join(lines) if lines else None


# The ETag(s) of a ticket as the client read it (api.services.tickets.check_unchanged).
IfMatch = Annotated[str | None, Depends(if_match)]


class RoleGuard:
    """The dependency behind `require_role`: the principal, if its role is one of `roles`."""

    def __init__(self, roles: frozenset[str]) -> None:
        self.roles = roles

    def __call__(self, request: Request) -> Principal:
        principal: Principal | None = request.scope.get(PRINCIPAL)
        if principal is None:
            raise Unauthorized("missing API key", loc=["header", "X-API-Key"], type="missing_api_key")
        if not principal.may(self.roles):
            raise Forbidden(
                f"the role {principal.role!r} may not use this route (allowed: {', '.join(sorted(self.roles))}, admin)",
                loc=["header", "X-API-Key"],
            )
        return principal


def _dependants(request: Request) -> Iterator[Dependant]:
    """The matched route's dependant and all its sub-dependencies."""
    route = request.scope.get("route")
    pending: list[Dependant] = [route.dependant] if isinstance(route, APIRoute) else []
    while pending:
        dependant = pending.pop()
        yield dependant
        pending.extend(dependant.dependencies)


def role_refusal(request: Request) -> ApiError | None:
    """The 401/403 the route's role check (`RoleGuard`) gives this request, if any."""
    for dependant in _dependants(request):
        if isinstance(dependant.call, RoleGuard):
            try:
                dependant.call(request)
            except ApiError as refusal:
                return refusal
    return None


def known_query_only(request: Request) -> None:
    """422 naming each query parameter the route does not take: a misspelt filter (`?overdu=true`)
    or one the route has not got (`?customer_id=`) would otherwise be ignored, and a listing
    answer as if it had not been sent. A caller the route's role check refuses gets its 401/403."""
    known = {param.alias for dependant in _dependants(request) for param in dependant.query_params}
    unknown = [name for name in dict.fromkeys(request.query_params) if name not in known]
    if not unknown or role_refusal(request) is not None:
        return
    names = ", ".join(quoted(name) for name in unknown)
    takes = ", ".join(sorted(known)) or "none"
    raise InvalidInput(
        f"unknown query parameter{'s' if len(unknown) > 1 else ''} {names}; this route takes {takes}",
        loc=["query", unknown[0]],
        type="extra_forbidden",
    )


def require_role(*roles: str) -> Any:
    """A dependency admitting the given roles (and admin); use as `Annotated[Principal, require_role(...)]`."""
    return Depends(RoleGuard(frozenset(roles)))


IntakeUser = Annotated[Principal, require_role("intake")]
ClassifyUser = Annotated[Principal, require_role("intake", "analyst")]
TicketReader = Annotated[Principal, require_role("agent", "analyst")]
AgentUser = Annotated[Principal, require_role("agent")]
SurveyUser = Annotated[Principal, require_role("agent", "intake")]
ModelReader = Annotated[Principal, require_role("analyst", "agent")]
AnalystUser = Annotated[Principal, require_role("analyst")]
