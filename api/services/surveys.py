"""The satisfaction survey (满意度调查问卷): one per closure of a ticket.

A survey judges the handling that ended in one closure, the `closed` event it followed
(`Survey.closed_event_id`). A closed ticket takes at most one survey; reopened and closed again,
it may take another, for its new closure. The ticket's **current** survey is the one of its
latest closure while it is closed: only that one is shown as the ticket's `survey` and counted
in statistics, exports and the monthly report. Once the ticket is reopened, its survey no longer
counts (the handling it judged was not final) until the next closure gets its own. Earlier
surveys stay stored and are listed in the ticket's `surveys`. The same survey sent again for a
closure (a retry) gives back the stored one; other answers for it are a conflict.

A survey is due `SURVEY_DUE_HOURS` after the closure (practice: 24–48 h after the handling is
complete); a late survey is still recorded.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, ScalarSelect, and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import flag_modified
from sqlalchemy.orm.exc import StaleDataError

from api.errors import Conflict
from api.schemas import SurveyCreate
from api.services.events import concurrent_update
from api.services.tracking import CLOSED
from api.tables import Survey, Ticket, TicketEvent
from model.text import mask_optional

SURVEY_DUE_HOURS = 48


def survey_due(ticket: Ticket) -> datetime | None:
    """When the survey of the ticket's closure is due (closed_at + 48 h); None unless it is closed."""
    if ticket.status != CLOSED or ticket.closed_at is None:
        return None
    return ticket.closed_at + timedelta(hours=SURVEY_DUE_HOURS)


def last_closure(session: Session, ticket: Ticket) -> TicketEvent | None:
    """The `closed` event that closed the ticket, while it is closed (None when it is not)."""
    if ticket.status != CLOSED:
        return None
    return session.scalar(
        select(TicketEvent)
        .where(TicketEvent.ticket_id == ticket.id, TicketEvent.stage == CLOSED)
        .order_by(TicketEvent.id.desc())
        .limit(1)
    )


def surveys_of(session: Session, ticket: Ticket) -> list[Survey]:
    """Every survey of the ticket, oldest first."""
    return list(session.scalars(select(Survey).where(Survey.ticket_id == ticket.id).order_by(Survey.id)))


def current_closure_id(ticket: Ticket, history: list[TicketEvent]) -> int | None:
    """The id of the `closed` event that closed the ticket, from its history; None unless closed."""
    if ticket.status != CLOSED:
        return None
    return next((event.id for event in reversed(history) if event.stage == CLOSED), None)


def _latest_closure_id() -> ScalarSelect[int]:
    """SQL: the id of the `Ticket` row's latest `closed` event."""
    return (
        select(func.max(TicketEvent.id))
        .where(TicketEvent.ticket_id == Ticket.id, TicketEvent.stage == CLOSED)
        .correlate(Ticket)
        .scalar_subquery()
    )


def is_current_survey() -> ColumnElement[bool]:
    """SQL: the `Survey` row is the current survey of the `Ticket` row (to join surveys to tickets,
    at most one per ticket)."""
    return and_(Survey.ticket_id == Ticket.id, Ticket.status == CLOSED, Survey.closed_event_id == _latest_closure_id())


def is_current_closure(closure: type[TicketEvent]) -> ColumnElement[bool]:
    """SQL: the `closure` row (an alias of `TicketEvent`) is the `closed` event that closed the
    `Ticket` row, while it is closed (to join each closed ticket to its closure, whose details hold
    the customer's feedback)."""
    return and_(closure.ticket_id == Ticket.id, Ticket.status == CLOSED, closure.id == _latest_closure_id())


def _exists(ticket: Ticket) -> Conflict:
    return Conflict(
        f"{ticket.ticket_no} already has a different survey of its current closure; a ticket takes one "
        "survey per closure (reopened and closed again, it may take another). The same survey sent again "
        "gives back the stored one",
        loc=["path", "ticket_no"],
        type="survey_exists",
    )


def _answers(payload: SurveyCreate) -> dict[str, Any]:
    """The survey's answers as stored (aspects once each, the comment masked)."""
    return {
        "timeliness": payload.timeliness,
        "effectiveness": payload.effectiveness,
        "attitude": payload.attitude,
        "overall": payload.overall,
        "method": payload.method,
        "best_aspects": list(dict.fromkeys(payload.best_aspects)),
        "improve_aspects": list(dict.fromkeys(payload.improve_aspects)),
        "comment": mask_optional(payload.comment),
    }


def _stored_or_refused(session: Session, ticket: Ticket, closure: TicketEvent, payload: SurveyCreate) -> Survey | None:
    """The closure's stored survey when it holds the same answers as `payload` (a retry);
    409 `survey_exists` when it holds others; None when the closure has no survey."""
    stored = session.scalar(select(Survey).where(Survey.closed_event_id == closure.id))
    if stored is None:
        return None
    if any(getattr(stored, name) != value for name, value in _answers(payload).items()):
        raise _exists(ticket)
    return stored


@dataclass(frozen=True)
class SurveyResult:
    """The survey of the ticket's current closure, that closure, and whether this request stored it
    (False: the same survey was stored before, and is given back)."""

    survey: Survey
    closure: TicketEvent
    created: bool


def add_survey(session: Session, *, ticket: Ticket, payload: SurveyCreate, actor: str, now: datetime) -> SurveyResult:
    """Store the survey of the ticket's current closure, and return it with that closure.

    Idempotent: when that closure already has a survey with the same answers (a client retrying
    after a time-out), that one is returned and nothing is written. 409 `ticket_not_closed` when the
    ticket is not closed, `survey_exists` when its closure already has a survey with other answers
    (also when a concurrent request recorded it first), `concurrent_update` when the ticket changed
    otherwise meanwhile (a reopen). A new survey raises the ticket's revision.
    """
    closure = last_closure(session, ticket)
    if closure is None:
        raise Conflict(
            f"a survey is recorded for a closed ticket; {ticket.ticket_no} is {ticket.status}",
            loc=["path", "ticket_no"],
            type="ticket_not_closed",
        )
    stored = _stored_or_refused(session, ticket, closure, payload)
    if stored is not None:
        return SurveyResult(stored, closure, False)
    survey = Survey(
        ticket_id=ticket.id, closed_event_id=closure.id, **_answers(payload), surveyed_by=actor, surveyed_at=now
    )
    session.add(survey)
    # The ticket shows its survey: its revision, and so its ETag, changes; and a reopen committed
    # meanwhile (the closure no longer current) makes this commit fail instead of surveying it.
    flag_modified(ticket, "updated_at")
    try:
        session.commit()
    except (IntegrityError, StaleDataError):
        session.rollback()
        stored = _stored_or_refused(session, ticket, closure, payload)
        if stored is not None:  # a concurrent request stored the same survey first
            return SurveyResult(stored, closure, False)
        raise concurrent_update("its survey") from None
    except BaseException:
        session.rollback()
        raise
    return SurveyResult(survey, closure, True)
