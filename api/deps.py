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
from sqlalchemy.orm import Session

from api.auth import KeyRing, Principal
from api.db import POOL_OVERFLOW, POOL_SIZE, Database
from api.errors import Forbidden, Unauthorized, Unavailable
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
