"""Listing tickets: filters and keyset (cursor) pagination, newest first.

The cursor is opaque to clients: URL-safe base64 of `{"v": 1, "at": received time, "id": ticket
id, "f": digest of the filters}`. The next page holds the tickets strictly after that position
in (received_at desc, id desc) order, so pages never repeat or skip a ticket even while new
tickets arrive. A cursor only works with the filters it was issued for.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, not_, or_, select
from sqlalchemy.orm import Session

from api.errors import InvalidInput
from api.schemas import plausible_time
from api.services.deadlines import due_soon_clause, escalated_clause, head_told_clause, overdue_clause
from api.tables import Ticket


@dataclass(frozen=True)
class TicketFilters:
    """What a listing is restricted to (None: no restriction)."""

    status: tuple[str, ...] = ()
    department: str | None = None
    tier: str | None = None
    category: str | None = None
    channel: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    overdue: bool | None = None
    needs_review: bool | None = None
    due_soon: bool | None = None
    escalated: bool | None = None
    head_escalated: bool | None = None

    def digest(self) -> str:
        """A short hash identifying these filters (bound into cursors). Filters left unset are not
        part of it, so that a filter added later does not invalidate the cursors of listings
        without it (this form changed every cursor's hash once, with `head_escalated`)."""
        given = {name: value for name, value in asdict(self).items() if value is not None}
        encoded = json.dumps(given, sort_keys=True, default=str).encode("utf-8")
        return hashlib.sha256(encoded).hexdigest()[:16]


@dataclass(frozen=True)
class Cursor:
    """A position in a listing."""

    received_at: datetime
    id: int
    filters: str

    def encode(self) -> str:
        """The opaque string given to clients."""
        return encode_cursor({"v": 1, "at": self.received_at.isoformat(), "id": self.id, "f": self.filters})


def encode_cursor(payload: dict[str, object]) -> str:
    """A cursor's payload as the opaque string given to clients."""
    return base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode().rstrip("=")


def cursor_payload(value: str) -> dict[str, Any]:
    """The payload of a version-1 cursor (`encode_cursor`'s inverse).

    Raises ValueError, binascii.Error or UnicodeDecodeError when malformed.
    """
    payload = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    if not isinstance(payload, dict) or payload.get("v") != 1:
        raise ValueError("unknown cursor version")
    return payload


def read_cursor(value: str) -> tuple[dict[str, Any], datetime, int]:
    """A version-1 cursor's payload with its received time and ticket id.

    Raises ValueError, KeyError, TypeError, binascii.Error or UnicodeDecodeError when malformed.
    """
    payload = cursor_payload(value)
    received_at = datetime.fromisoformat(str(payload["at"]))
    ticket_id = payload["id"]
    if received_at.tzinfo is None or not isinstance(ticket_id, int) or isinstance(ticket_id, bool):
        raise ValueError("bad cursor fields")
    if not 0 <= ticket_id < 2**63:  # a row id of every supported database
        raise ValueError("cursor id out of range")
    plausible_time(received_at)
    return payload, received_at, ticket_id


def invalid_cursor() -> InvalidInput:
    """The 422 of a cursor that is not one this service issued."""
    return InvalidInput("invalid cursor: pass the next_cursor of the previous page unchanged", loc=["query", "cursor"])


def decode_cursor(value: str, filters: TicketFilters) -> Cursor:
    """Parse a cursor; 422 naming `cursor` when it is malformed or from other filters."""
    try:
        payload, received_at, ticket_id = read_cursor(value)
        digest = str(payload["f"])
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeDecodeError):
        raise invalid_cursor() from None
    if digest != filters.digest():
        raise InvalidInput(
            "this cursor belongs to a listing with other filters; start again without a cursor",
            loc=["query", "cursor"],
        )
    return Cursor(received_at, ticket_id, digest)


def _filtered(filters: TicketFilters, now: datetime, warning_share: float) -> Select[Ticket]:
    statement = select(Ticket)
    if filters.status:
        statement = statement.where(Ticket.status.in_(filters.status))
    for column, value in (
        (Ticket.department, filters.department),
        (Ticket.tier, filters.tier),
        (Ticket.category, filters.category),
        (Ticket.channel, filters.channel),
    ):
        if value is not None:
            statement = statement.where(column == value)
    if filters.created_from is not None:
        statement = statement.where(Ticket.received_at >= filters.created_from)
    if filters.created_to is not None:
        statement = statement.where(Ticket.received_at < filters.created_to)
    if filters.needs_review is not None:
        statement = statement.where(Ticket.needs_review.is_(filters.needs_review))
    for wanted, clause in (
        (filters.overdue, overdue_clause(now)),
        (filters.due_soon, due_soon_clause(now, warning_share)),
        (filters.escalated, escalated_clause()),
        (filters.head_escalated, head_told_clause()),
    ):
        if wanted is not None:
            statement = statement.where(clause if wanted else not_(clause))
    return statement


def list_tickets(
    session: Session,
    *,
    filters: TicketFilters,
    cursor: Cursor | None,
    limit: int,
    now: datetime,
    warning_share: float,
) -> tuple[list[Ticket], Cursor | None]:
    """One page of tickets and the cursor of the next page (None on the last page); `now` and
    `warning_share` decide which deadlines are overdue and due soon (`api.services.deadlines`)."""
    statement = _filtered(filters, now, warning_share)
    if cursor is not None:
        statement = statement.where(
            or_(
                Ticket.received_at < cursor.received_at,
                and_(Ticket.received_at == cursor.received_at, Ticket.id < cursor.id),
            )
        )
    statement = statement.order_by(Ticket.received_at.desc(), Ticket.id.desc()).limit(limit + 1)
    rows = list(session.scalars(statement))
    page, more = rows[:limit], len(rows) > limit
    next_cursor = Cursor(page[-1].received_at, page[-1].id, filters.digest()) if more else None
    return page, next_cursor
