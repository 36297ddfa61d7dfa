"""Deadline escalation: when each deadline of a ticket was escalated to the supervisor.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07

- `tickets` gains `first_response_escalated_at` and `resolution_escalated_at`, null until the
  deadline sweep escalates that deadline (see `api.services.deadline_escalation`). Tickets of
  earlier revisions start unescalated: the first sweep after the upgrade escalates, once, every
  open ticket whose deadline is already near or passed.
- A database that was at this revision before (downgraded, then upgraded again) keeps the
  `deadline_escalated` events of its tickets; the columns are filled again from the earliest
  such event of each deadline, so that no deadline is escalated twice.

Written for both SQLite and PostgreSQL: nullable columns without constraints, a plain ALTER TABLE
on both (SQLite does not rebuild `tickets`).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEADLINES = ("first_response", "resolution")
# The `deadline` key of an event's JSON details, as each database reads it.
_DEADLINE_OF_EVENT = {
    "postgresql": "ticket_events.details ->> 'deadline'",
    "sqlite": "json_extract(ticket_events.details, '$.deadline')",
}
_REFILL = """
UPDATE tickets SET {deadline}_escalated_at = (
    SELECT min(ticket_events.at) FROM ticket_events
    WHERE ticket_events.ticket_id = tickets.id AND ticket_events.stage = 'deadline_escalated'
      AND {deadline_of_event} = '{deadline}'
)
WHERE tickets.id IN (SELECT ticket_id FROM ticket_events WHERE stage = 'deadline_escalated')
"""


def upgrade() -> None:
    """Add the two escalation times; refill them from escalation events kept from before a downgrade."""
    for deadline in DEADLINES:
        op.add_column("tickets", sa.Column(f"{deadline}_escalated_at", sa.DateTime(timezone=True), nullable=True))
    deadline_of_event = _DEADLINE_OF_EVENT[op.get_bind().dialect.name]
    for deadline in DEADLINES:
        op.execute(_REFILL.format(deadline=deadline, deadline_of_event=deadline_of_event))


def downgrade() -> None:
    """Drop the two escalation times; the `deadline_escalated` events stay in the tickets' history
    (revision 0002 shows them under their code)."""
    for deadline in reversed(DEADLINES):
        op.drop_column("tickets", f"{deadline}_escalated_at")
