"""GET /v1/notifications: the escalation notifications and their delivery (read-only).

Every listing (a 200 answer) says in `X-Triage-Notifications` whether the service sends them (`on`: TRIAGE_NOTIFY_URL
is set) or not (`off`), so that a client (the console) can tell "none yet" from "switched off".
"""

from __future__ import annotations

import binascii
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import PolicyDep, SessionDep, SettingsDep, TicketReader
from api.schemas import NotificationPage, NotificationPublic, NotificationState, error_responses
from api.services.deadlines import ESCALATION_LEVEL_NAMES
from api.services.listing import cursor_payload, encode_cursor, invalid_cursor
from api.services.notifications import escalated, recipient
from api.services.outbox import count_notifications, list_notifications
from api.tables import Notification, TicketEvent

router = APIRouter(prefix="/v1/notifications", tags=["notifications"], responses=error_responses(401, 403, 422, 503))
SWITCH_HEADER = "X-Triage-Notifications"
"""Whether the service sends notifications: `on` (TRIAGE_NOTIFY_URL is set) or `off`."""


def _cursor(value: str, state: str | None) -> int:
    """The id a cursor continues before; 422 when it is not one this listing issued."""
    try:
        payload = cursor_payload(value)
        before = payload["id"]
        valid = payload.get("s") == (state or "")
    except (ValueError, KeyError, binascii.Error, UnicodeDecodeError):
        raise invalid_cursor() from None
    if not valid or not isinstance(before, int) or isinstance(before, bool) or not 0 < before < 2**63:
        raise invalid_cursor()
    return before


@router.get(
    "",
    response_model=NotificationPage,
    summary="Escalation notifications and their delivery",
    responses={
        200: {
            "headers": {
                SWITCH_HEADER: {
                    "description": "`on` while TRIAGE_NOTIFY_URL is set, else `off` (none is recorded or sent).",
                    "schema": {"type": "string", "enum": ["on", "off"]},
                }
            }
        }
    },
)
def list_(
    _: TicketReader,
    response: Response,
    session: SessionDep,
    settings: SettingsDep,
    policy: PolicyDep,
    state: Annotated[NotificationState | None, Query(description="Only those in this state.")] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> NotificationPage:
    """Newest first: what was sent to the team's gateway for each escalation (empty while
    TRIAGE_NOTIFY_URL is not set: `X-Triage-Notifications: off`), with `total`, how many the listing
    holds on all its pages (`state=failed&limit=1` counts the failed ones). Ticket numbers only, no
    customer data."""
    response.headers[SWITCH_HEADER] = "on" if settings.notify_enabled else "off"
    before = _cursor(cursor, state) if cursor is not None else None
    rows = list_notifications(session, state=state, before_id=before, limit=limit + 1)
    zone = settings.zone

    def local(moment: datetime | None) -> datetime | None:
        return moment.astimezone(zone) if moment is not None else None

    def item(notification: Notification, record: TicketEvent, ticket_no: str, department: str) -> NotificationPublic:
        what = escalated(record)
        return NotificationPublic(
            event_id=record.id,
            ticket_no=ticket_no,
            kind=what.kind,  # type: ignore[arg-type]
            level=what.level,
            level_name=ESCALATION_LEVEL_NAMES[what.level],
            recipient=recipient(policy.contacts, department, what.level),
            state=notification.state,  # type: ignore[arg-type]
            attempts=notification.attempts,
            created_at=local(notification.created_at) or notification.created_at,
            next_attempt_at=local(notification.next_attempt_at),
            last_attempt_at=local(notification.last_attempt_at),
            delivered_at=local(notification.delivered_at),
            last_error=notification.last_error,
        )

    page = rows[:limit]
    items = [item(*row) for row in page]
    more = len(rows) > limit
    next_cursor = encode_cursor({"v": 1, "id": page[-1][0].id, "s": state or ""}) if more else None
    total = count_notifications(session, state=state)
    return NotificationPage(items=items, next_cursor=next_cursor, total=total)
