"""POST /v1/tickets (intake), GET /v1/tickets (list) and GET /v1/tickets/{ticket_no}."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response, status

from api.deps import IntakeUser, ModelDep, NowDep, PolicyDep, ServicesDep, SessionDep, ThresholdsDep, TicketReader
from api.errors import InvalidInput, quoted
from api.presenters import PresenterDep, ticket_view
from api.schemas import (
    Channel,
    IsoTime,
    TicketCreate,
    TicketPage,
    TicketPublic,
    TicketStatus,
    TicketWithContact,
    error_responses,
    plausible_time,
)
from api.services import idempotency
from api.services.listing import TicketFilters, decode_cursor, list_tickets
from api.services.tickets import create_ticket, etag, get_ticket, ticket_numbers
from api.services.urgent_escalation import INTAKE
from api.validation import check_length

router = APIRouter(prefix="/v1/tickets", tags=["tickets"], responses=error_responses(401, 403, 404, 409, 413, 422, 503))


@router.post(
    "",
    response_model=TicketPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Create a ticket (idempotent per Idempotency-Key)",
    responses={200: {"description": "The same key and body were seen before: the same ticket", "model": TicketPublic}},
)
def create(
    principal: IntakeUser,
    payload: TicketCreate,
    request: Request,
    response: Response,
    session: SessionDep,
    loaded: ModelDep,
    policy: PolicyDep,
    thresholds: ThresholdsDep,
    services: ServicesDep,
    view: PresenterDep,
    idempotency_key: Annotated[
        str,
        Header(
            alias="Idempotency-Key",
            min_length=1,
            max_length=200,
            pattern=r"^[!-~]+$",
            description="Any unique string (a UUID): the same key and body give back the same ticket.",
        ),
    ],
) -> TicketPublic:
    """Classify, escalate, route and number the complaint; 201 when created, 200 on a replay."""
    if len(set(request.headers.getlist(idempotency.HEADER))) > 1:
        raise InvalidInput(
            f"{idempotency.HEADER} is given more than once; send one", loc=["header", idempotency.HEADER]
        )
    check_length(payload.text, services.settings, ["body", "text"])
    result = create_ticket(
        session,
        payload=payload,
        client=principal.name,
        key=idempotency_key,
        loaded=loaded,
        policy=policy,
        thresholds=thresholds,
        settings=services.settings,
        clock=services.clock,
    )
    ticket = result.ticket
    if result.created:
        assert result.assessment is not None
        services.metrics.observe_prediction(result.assessment.prediction)
        services.metrics.tickets.labels(ticket.tier).inc()
        for firing in result.assessment.escalations:
            services.metrics.escalations.labels(firing.rule).inc()
        if ticket.head_escalated_at is not None:
            services.metrics.intake_head_escalations.labels(ticket.tier, INTAKE).inc()
    else:
        response.status_code = status.HTTP_200_OK
    response.headers["Location"] = f"/v1/tickets/{ticket.ticket_no}"
    response.headers["ETag"] = etag(ticket)
    return ticket_view(session, ticket, view, principal)


def _zone_aware(value: datetime | None, zone: tzinfo, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        plausible_time(value)
    except ValueError as error:
        raise InvalidInput(str(error), loc=["query", field]) from None
    return value if value.tzinfo is not None else value.replace(tzinfo=zone)


def _check_code(value: str | None, allowed: list[str], field: str) -> None:
    if value is not None and value not in allowed:
        raise InvalidInput(
            f"{field} {quoted(value)} is not one of {', '.join(allowed)}", loc=["query", field], allowed=allowed
        )


@router.get("", response_model=TicketPage, summary="List tickets (filters, cursor pagination)")
def list_(
    _: TicketReader,
    session: SessionDep,
    loaded: ModelDep,
    services: ServicesDep,
    view: PresenterDep,
    now: NowDep,
    status_: Annotated[list[TicketStatus] | None, Query(alias="status", description="Repeatable.")] = None,
    department: str | None = None,
    tier: str | None = None,
    category: str | None = None,
    channel: Channel | None = None,
    created_from: Annotated[IsoTime | None, Query(description="Received at or after (ISO 8601).")] = None,
    created_to: Annotated[IsoTime | None, Query(description="Received before (ISO 8601).")] = None,
    overdue: Annotated[bool | None, Query(description="Open and past a due time.")] = None,
    due_soon: Annotated[
        bool | None, Query(description="Open, with a deadline near (past its warn_at) but not yet past due.")
    ] = None,
    escalated: Annotated[
        bool | None,
        Query(
            description="A deadline of the ticket was escalated (to the supervisor, perhaps then to the head); "
            "an urgent ticket escalated to the head when filed or reviewed is not, until a deadline of it is."
        ),
    ] = None,
    head_escalated: Annotated[
        bool | None,
        Query(
            description="The department head was told: an urgent ticket escalated when filed or reviewed "
            "(head_escalated_at), or a deadline that passed unmet and was escalated to the head."
        ),
    ] = None,
    needs_review: bool | None = None,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> TicketPage:
    """Newest first; contacts and customer names are never listed."""
    taxonomy = loaded.model.taxonomy
    _check_code(department, list(taxonomy.departments), "department")
    _check_code(tier, list(taxonomy.tiers), "tier")
    _check_code(category, list(taxonomy.categories), "category")
    zone = services.settings.zone
    start = _zone_aware(created_from, zone, "created_from")
    end = _zone_aware(created_to, zone, "created_to")
    if start is not None and end is not None and start >= end:
        raise InvalidInput("created_from must be before created_to", loc=["query", "created_from"])
    filters = TicketFilters(
        status=tuple(sorted(set(status_ or []))),
        department=department,
        tier=tier,
        category=category,
        channel=channel,
        created_from=start,
        created_to=end,
        overdue=overdue,
        needs_review=needs_review,
        due_soon=due_soon,
        escalated=escalated,
        head_escalated=head_escalated,
    )
    position = decode_cursor(cursor, filters) if cursor is not None else None
    page, next_cursor = list_tickets(
        session,
        filters=filters,
        cursor=position,
        limit=limit,
        now=now,
        warning_share=services.settings.deadline_warning_share,
    )
    numbers = ticket_numbers(session, {t.repeat_of_id for t in page if t.repeat_of_id is not None})
    return TicketPage(
        items=[view.summary(t, numbers.get(t.repeat_of_id) if t.repeat_of_id else None) for t in page],
        next_cursor=next_cursor.encode() if next_cursor is not None else None,
    )


@router.get(
    "/{ticket_no}",
    response_model=TicketWithContact | TicketPublic,
    summary="One ticket with its history (the contact for agents only)",
)
def read(
    principal: TicketReader,
    ticket_no: str,
    response: Response,
    session: SessionDep,
    view: PresenterDep,
) -> TicketPublic:
    """The filled ticket, its tracking history, SLA states and survey; its revision in `ETag`
    (send it back as If-Match with a review or an event)."""
    ticket = get_ticket(session, ticket_no)
    response.headers["ETag"] = etag(ticket)
    return ticket_view(session, ticket, view, principal)
