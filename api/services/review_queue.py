"""The review queue: tickets flagged `needs_review` that no agent has reviewed yet and that are
not closed (a closed ticket is not reviewed until it is reopened, when it is back in the queue).

Order: lowest confidence first, then oldest received, then ticket id, where confidence is the
lowest of the suggestion's category, subtype and tier probabilities. Pagination is by keyset:
the cursor is URL-safe base64 of `{"v": 1, "c": confidence, "at": received time, "id": ticket id}`
and the next page holds the tickets strictly after that position, so a ticket reviewed meanwhile
simply leaves the queue without shifting the others.
"""

from __future__ import annotations

import binascii
import math
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, case, or_, select
from sqlalchemy.orm import Session

from api.services.listing import encode_cursor, invalid_cursor, read_cursor
from api.services.tracking import OPEN_STATUSES
from api.tables import Ticket


def confidence_of(ticket: Ticket) -> float:
    """The lowest of the suggestion's three head probabilities."""
    return min(ticket.category_probability, ticket.subtype_probability, ticket.tier_probability)


def confidence_column() -> ColumnElement[float]:
    """`confidence_of` as SQL (portable: no LEAST on SQLite, no 3-argument MIN on PostgreSQL)."""
    category, subtype, tier = Ticket.category_probability, Ticket.subtype_probability, Ticket.tier_probability
    return case(
        (and_(category <= subtype, category <= tier), category),
        (subtype <= tier, subtype),
        else_=tier,
    )


@dataclass(frozen=True)
class QueueCursor:
    """A position in the queue."""

    confidence: float
    received_at: datetime
    id: int

    def encode(self) -> str:
        """The opaque string given to clients."""
        return encode_cursor({"v": 1, "c": self.confidence, "at": self.received_at.isoformat(), "id": self.id})


def decode_queue_cursor(value: str) -> QueueCursor:
    """Parse a queue cursor; 422 naming `cursor` when it is malformed."""
    try:
        payload, received_at, ticket_id = read_cursor(value)
        confidence = payload["c"]
        if not isinstance(confidence, int | float) or isinstance(confidence, bool) or not math.isfinite(confidence):
            raise ValueError("bad confidence")
    except (ValueError, KeyError, TypeError, OverflowError, binascii.Error, UnicodeDecodeError):
        raise invalid_cursor() from None
    return QueueCursor(float(confidence), received_at, ticket_id)


def review_queue(
    session: Session, *, cursor: QueueCursor | None, limit: int
) -> tuple[list[Ticket], QueueCursor | None]:
    """One page of the queue and the cursor of the next page (None on the last page)."""
    confidence = confidence_column()
    statement = select(Ticket).where(
        Ticket.needs_review.is_(True), Ticket.reviewed_at.is_(None), Ticket.status.in_(OPEN_STATUSES)
    )
    if cursor is not None:
        statement = statement.where(
            or_(
                confidence > cursor.confidence,
                and_(confidence == cursor.confidence, Ticket.received_at > cursor.received_at),
                and_(
                    confidence == cursor.confidence,
                    Ticket.received_at == cursor.received_at,
                    Ticket.id > cursor.id,
                ),
            )
        )
    statement = statement.order_by(confidence, Ticket.received_at, Ticket.id).limit(limit + 1)
    rows = list(session.scalars(statement))
    page, more = rows[:limit], len(rows) > limit
    if not more:
        return page, None
    last = page[-1]
    return page, QueueCursor(confidence_of(last), last.received_at, last.id)
