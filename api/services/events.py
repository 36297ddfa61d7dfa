"""Recording tracking events on a ticket, through the state machine of `tracking`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from api.errors import Conflict, InvalidInput, PreconditionFailed, quoted
from api.schemas import AssignedEvent, ClosedEvent, EscalatedEvent, EventCreate, ResolvedEvent
from api.services.tracking import FIRST_RESPONSE_STAGES, STATUS_NAMES, UNCONFIRMED, allowed_next, can_follow
from api.tables import Ticket, TicketEvent
from api.validation import masked_to_fit
from model.text import mask_optional, mask_pii


def add_event(
    session: Session, *, ticket: Ticket, event: EventCreate, actor: str, now: datetime, if_match: str | None = None
) -> TicketEvent:
    """Record a stage change; 409 with the allowed stages when it may not follow the status.

    The ticket row is updated with an optimistic lock: when another change was recorded
    meanwhile, nothing is written and the caller gets a 409 to retry (412 when it sent `if_match`).
    """
    status = ticket.status
    if not can_follow(status, event.stage):
        allowed = list(allowed_next(status))
        raise Conflict(
            f"a ticket that is {status} ({STATUS_NAMES[status]}) cannot become {event.stage}; "
            f"allowed next stages: {', '.join(allowed) or 'none'}",
            loc=["body", "stage"],
            type="illegal_transition",
            status=status,
            allowed=allowed,
        )
    if isinstance(event, ClosedEvent) and event.feedback == UNCONFIRMED and not event.note:
        # Practice: a ticket is closed once the customer confirms the problem is solved. Closing
        # over the customer's "not satisfied" is a decision someone must account for.
        raise InvalidInput(
            "closing a ticket the customer does not confirm as solved (feedback 'not', 不满意) needs a note "
            "saying why it is closed anyway; otherwise record 'reopened' and agree a new solution",
            loc=["body", "note"],
            type="note_required",
        )
    details: dict[str, Any] = {}
    owner: str | None = None
    if isinstance(event, AssignedEvent | EscalatedEvent):
        owner = masked_to_fit(event.owner, TicketEvent.owner, ["body", "owner"])
    if isinstance(event, ResolvedEvent):
        details["resolution"] = mask_pii(event.resolution)
    if isinstance(event, ClosedEvent):
        details["feedback"] = event.feedback
        if event.comment:
            details["comment"] = mask_pii(event.comment)
    record = TicketEvent(
        ticket_id=ticket.id,
        stage=event.stage,
        from_status=status,
        actor=actor,
        at=now,
        owner=owner,
        note=mask_optional(event.note),
        details=details,
    )
    ticket.status = event.stage
    ticket.updated_at = now
    if owner is not None:
        ticket.owner = owner
    if event.stage in FIRST_RESPONSE_STAGES and ticket.first_responded_at is None:
        ticket.first_responded_at = now
    if event.stage == "resolved":
        ticket.resolved_at = now
    if event.stage == "closed":
        ticket.closed_at = now
    if event.stage == "reopened":
        ticket.resolved_at = None
        ticket.closed_at = None
    return commit_event(session, ticket, record, "this event", if_match)


def concurrent_update(what: str) -> Conflict:
    """The 409 for a change that lost the race to another commit of the ticket (its revision)."""
    return Conflict(
        f"the ticket changed while {what} was being recorded; reload it and retry",
        loc=["path", "ticket_no"],
        type="concurrent_update",
    )


def commit_event(
    session: Session,
    ticket: Ticket,
    record: TicketEvent,
    what: str,
    if_match: str | None = None,
    *,
    follows: Sequence[TicketEvent] = (),
) -> TicketEvent:
    """Add the event and commit it with the ticket's change; 409 when another change came first.

    The ticket's optimistic lock (`revision`) finds a concurrent commit: nothing is written and
    the caller gets `concurrent_update`, naming `what` was being recorded, to retry; or, when
    the request named the revision it was based on (`if_match`, already checked against the
    revision read), the 412 `ticket_changed` that a later request would have got. Every event
    raises the revision, even one that changes no column of the ticket (a second accept): its
    history changed, and so does its ETag. `follows`: events the change caused, recorded after it
    in the same commit (the escalation to the department head a review's tier makes).
    """
    flag_modified(ticket, "updated_at")
    session.add(record)
    session.add_all(follows)
    try:
        session.commit()
    except StaleDataError:
        session.rollback()
        if if_match is not None and if_match.strip() != "*":
            raise PreconditionFailed(
                f"the ticket changed while {what} was being recorded (the request names {quoted(if_match)}); "
                "reload it and apply the change again",
                loc=["header", "If-Match"],
            ) from None
        raise concurrent_update(what) from None
    except BaseException:
        session.rollback()
        raise
    return record
