"""POST /v1/tickets/{ticket_no}/events: the stage changes of the tracking sheet."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from api.deps import AgentUser, IfMatch, NowDep, SessionDep
from api.presenters import PresenterDep, ticket_view
from api.schemas import EventCreate, TicketPublic, TicketWithContact, error_responses
from api.services.events import add_event
from api.services.tickets import check_unchanged, etag, get_ticket

router = APIRouter(
    prefix="/v1/tickets", tags=["tracking"], responses=error_responses(401, 403, 404, 409, 412, 413, 422, 503)
)


@router.post(
    "/{ticket_no}/events",
    response_model=TicketWithContact | TicketPublic,
    status_code=status.HTTP_201_CREATED,
    summary="Record a stage change (assigned, in_progress, customer_contacted, resolved, closed, reopened, escalated)",
    responses={409: {"description": "The stage may not follow the ticket's status; `allowed` lists what may"}},
)
def record_event(
    principal: AgentUser,
    ticket_no: str,
    event: EventCreate,
    response: Response,
    session: SessionDep,
    view: PresenterDep,
    now: NowDep,
    if_match: IfMatch,
) -> TicketPublic:
    """Record the event with its time and actor; returns the ticket with its full history."""
    ticket = get_ticket(session, ticket_no)
    check_unchanged(ticket, if_match)
    add_event(session, ticket=ticket, event=event, actor=principal.name, now=now, if_match=if_match)
    response.headers["ETag"] = etag(ticket)
    return ticket_view(session, ticket, view, principal)
