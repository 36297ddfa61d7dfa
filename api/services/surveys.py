"""Recording the satisfaction survey (满意度调查问卷) of a closed ticket: one per ticket."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.errors import Conflict
from api.schemas import SurveyCreate
from api.services.tickets import survey_of
from api.tables import Survey, Ticket
from model.text import mask_optional


def add_survey(session: Session, *, ticket: Ticket, payload: SurveyCreate, actor: str, now: datetime) -> Survey:
    """Store the survey; 409 when the ticket is not closed or already has one."""
    if ticket.status != "closed":
        raise Conflict(
            f"a survey is recorded for a closed ticket; {ticket.ticket_no} is {ticket.status}",
            loc=["path", "ticket_no"],
            type="ticket_not_closed",
        )
    if survey_of(session, ticket) is not None:
        raise Conflict(f"{ticket.ticket_no} already has a survey", loc=["path", "ticket_no"], type="survey_exists")
    survey = Survey(
        ticket_id=ticket.id,
        timeliness=payload.timeliness,
        effectiveness=payload.effectiveness,
        attitude=payload.attitude,
        overall=payload.overall,
        method=payload.method,
        best_aspects=list(dict.fromkeys(payload.best_aspects)),
        improve_aspects=list(dict.fromkeys(payload.improve_aspects)),
        comment=mask_optional(payload.comment),
        surveyed_by=actor,
        surveyed_at=now,
    )
    session.add(survey)
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        raise Conflict(
            f"{ticket.ticket_no} already has a survey", loc=["path", "ticket_no"], type="survey_exists"
        ) from None
    except BaseException:
        session.rollback()
        raise
    return survey
