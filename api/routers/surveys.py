"""POST /v1/tickets/{ticket_no}/survey: the satisfaction survey of a closed ticket (one per closure)."""

from __future__ import annotations

from fastapi import APIRouter, status

from api.deps import NowDep, SessionDep, SurveyUser
from api.presenters import PresenterDep
from api.schemas import SurveyCreate, SurveyOut, error_responses
from api.services.surveys import add_survey
from api.services.tickets import get_ticket

router = APIRouter(prefix="/v1/tickets", tags=["surveys"], responses=error_responses(401, 403, 404, 409, 413, 422, 503))


@router.post(
    "/{ticket_no}/survey",
    response_model=SurveyOut,
    status_code=status.HTTP_201_CREATED,
    summary="Record the satisfaction survey (one per closure of a ticket)",
    responses={409: {"description": "The ticket is not closed, or its closure already has a survey"}},
)
def record_survey(
    principal: SurveyUser,
    ticket_no: str,
    payload: SurveyCreate,
    session: SessionDep,
    view: PresenterDep,
    now: NowDep,
) -> SurveyOut:
    """Four 1–5 scores (timeliness, effectiveness, attitude, overall) and free text, for the closure
    that closed the ticket; reopened and closed again, a ticket takes another survey, which then
    replaces the earlier one as the ticket's current survey (the earlier one stays listed)."""
    ticket = get_ticket(session, ticket_no)
    survey, closure = add_survey(session, ticket=ticket, payload=payload, actor=principal.name, now=now)
    return view.survey(survey, ticket.ticket_no, closed_at=closure.at, current=True)
