"""POST /v1/tickets/{ticket_no}/review (accept or correct the labels) and GET /v1/review-queue."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import AgentUser, IfMatch, ModelDep, NowDep, PolicyDep, ServicesDep, SessionDep, SettingsDep
from api.presenters import PresenterDep, ticket_view
from api.schemas import QueuePage, ReviewRequest, TicketPublic, TicketWithContact, error_responses
from api.services.review import review_ticket
from api.services.review_queue import decode_queue_cursor, review_queue
from api.services.tickets import check_unchanged, etag, get_ticket
from api.services.urgent_escalation import REVIEW

router = APIRouter(tags=["review"], responses=error_responses(401, 403, 413, 422, 503))


@router.post(
    "/v1/tickets/{ticket_no}/review",
    response_model=TicketWithContact | TicketPublic,
    summary="Accept or correct the ticket's labels (routing and SLA follow)",
    responses=error_responses(404, 409, 412),
)
def review(
    principal: AgentUser,
    ticket_no: str,
    payload: ReviewRequest,
    response: Response,
    session: SessionDep,
    loaded: ModelDep,
    view: PresenterDep,
    now: NowDep,
    settings: SettingsDep,
    policy: PolicyDep,
    services: ServicesDep,
    if_match: IfMatch,
) -> TicketPublic:
    """Record the final labels, who reviewed and when; returns the ticket as GET shows it.

    Codes are checked against the taxonomy of the model in service (422 with `allowed`). A
    subtype must belong to the category; a tier downgrade needs a `comment`. The department
    follows the subtype and the due times follow the tier (from the received time). Every review
    is a `reviewed` event in the history with the labels before and after; the last one wins.
    A review that gives the ticket an urgent tier (the policy's `head_at_intake`) escalates it to
    the department head, once per ticket (an `urgent_head_escalated` event after the review's).
    """
    ticket = get_ticket(session, ticket_no)
    check_unchanged(ticket, if_match)
    told = ticket.head_escalated_at is not None
    review_ticket(
        session,
        ticket=ticket,
        request=payload,
        taxonomy=loaded.model.taxonomy,
        actor=principal.name,
        now=now,
        repeat_window=timedelta(days=settings.repeat_window_days),
        head_tiers=policy.head_at_intake,
        if_match=if_match,
    )
    if not told and ticket.head_escalated_at is not None:
        services.metrics.intake_head_escalations.labels(ticket.tier, REVIEW).inc()
    response.headers["ETag"] = etag(ticket)
    return ticket_view(session, ticket, view, principal)


@router.get("/v1/review-queue", response_model=QueuePage, summary="Tickets waiting for review, least confident first")
def queue(
    _: AgentUser,
    session: SessionDep,
    view: PresenterDep,
    cursor: Annotated[str | None, Query(max_length=1000, description="next_cursor of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> QueuePage:
    """Unreviewed tickets flagged needs_review that are not closed: lowest confidence (min of the three heads)
    first, then oldest."""
    position = decode_queue_cursor(cursor) if cursor is not None else None
    page, next_cursor = review_queue(session, cursor=position, limit=limit)
    return QueuePage(
        items=[view.queue_item(ticket) for ticket in page],
        next_cursor=next_cursor.encode() if next_cursor is not None else None,
    )
