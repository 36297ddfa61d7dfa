"""POST /v1/tickets/{ticket_no}/survey: the satisfaction survey of a closed ticket (one per closure)."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

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
    responses={
        200: {"description": "The same survey was stored before for this closure: the stored one", "model": SurveyOut},
        409: {"description": "The ticket is not closed, or its closure already has a different survey"},
    },
)
def record_survey(
    principal: SurveyUser,
    ticket_no: str,
    payload: SurveyCreate,
    response: Response,
    session: SessionDep,
    view: PresenterDep,
    now: NowDep,
) -> SurveyOut:
    """Four 1–5 scores (timeliness, effectiveness, attitude, overall) and free text, for the closure
    that closed the ticket; reopened and closed again, a ticket takes another survey, which then
    replaces the earlier one as the ticket's current survey (the earlier one stays listed). 201 when
    stored; the same survey sent again for the same closure (a retry) gives back the stored one, 200."""
    ticket = get_ticket(session, ticket_no)
    result = add_survey(session, ticket=ticket, payload=payload, actor=principal.name, now=now)
    if not result.created:
        response.status_code = status.HTTP_200_OK
    return view.survey(result.survey, ticket.ticket_no, closed_at=result.closure.at, current=True)
