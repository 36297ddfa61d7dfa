"""Urgent tickets to the department head at intake: when a ticket itself was escalated to the head.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08

- `tickets` gains `head_escalated_at`, null until a ticket whose tier is one of the escalation
  policy's `head_at_intake` (P1 by default) is escalated to the department head (部门负责人, level 2)
  at intake or at the review that gives it that tier (practice document 003; see
  `api.services.urgent_escalation`). Tickets of earlier revisions start without it, P1 ones too:
  nobody told the department head when they came in, and a stamp now would say otherwise (the
  deadline sweep still escalates their overdue deadlines as before).
- A database that was at this revision before (downgraded, then upgraded again) keeps the
  `urgent_head_escalated` events of its tickets; the column is filled again from the earliest
  such event of each ticket, so that no ticket is escalated twice.

Written for both SQLite and PostgreSQL: a nullable column without constraints, a plain ALTER TABLE
on both (SQLite does not rebuild `tickets`); the refill touches the tickets with such events only.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_REFILL = """
UPDATE tickets SET head_escalated_at = (
    SELECT min(ticket_events.at) FROM ticket_events
    WHERE ticket_events.ticket_id = tickets.id AND ticket_events.stage = 'urgent_head_escalated'
)
WHERE tickets.id IN (SELECT ticket_id FROM ticket_events WHERE stage = 'urgent_head_escalated')
"""


def upgrade() -> None:
    """Add the time of the ticket's escalation to the department head; refill it from events kept from before a
    downgrade."""
    op.add_column("tickets", sa.Column("head_escalated_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(_REFILL)


def downgrade() -> None:
    """Drop the time; the `urgent_head_escalated` events stay in the tickets' history (revision 0006 shows them
    under their code)."""
    op.drop_column("tickets", "head_escalated_at")
