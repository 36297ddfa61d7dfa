"""The deadline sweep's verdict, stamped beside each escalation time.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

- `tickets` gains `first_response_escalated_passed` and `resolution_escalated_passed`: whether that
  deadline had already passed when the sweep escalated it (null while not escalated), written by
  the sweep with `<deadline>_escalated_at` (see `api.services.deadline_escalation`). Statistics and
  exports count "passed" from them: a review that re-tiers the ticket afterwards moves its due
  times, not the verdict.
- Tickets escalated before this revision get the `passed` their sweep recorded in the earliest
  `deadline_escalated` event of that deadline (the one written with the stamp); a stamp without
  such an event, which the service never writes, gets the comparison of the stamp with the due time.

Written for both SQLite and PostgreSQL: nullable columns without constraints, a plain ALTER TABLE
on both (SQLite does not rebuild `tickets`); the refill touches the escalated tickets only.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEADLINES = ("first_response", "resolution")
# The `deadline` and `passed` keys of an event's JSON details, as each database reads them.
_DETAILS = {
    "postgresql": ("ticket_events.details ->> 'deadline'", "CAST(ticket_events.details ->> 'passed' AS BOOLEAN)"),
    "sqlite": ("json_extract(ticket_events.details, '$.deadline')", "json_extract(ticket_events.details, '$.passed')"),
}
_REFILL = """
UPDATE tickets SET {deadline}_escalated_passed = COALESCE(
    (
        SELECT {passed_of_event} FROM ticket_events
        WHERE ticket_events.ticket_id = tickets.id AND ticket_events.stage = 'deadline_escalated'
          AND {deadline_of_event} = '{deadline}'
        ORDER BY ticket_events.at, ticket_events.id LIMIT 1
    ),
    {deadline}_escalated_at > {deadline}_due
)
WHERE {deadline}_escalated_at IS NOT NULL
"""


def upgrade() -> None:
    """Add the two verdicts and fill them for the deadlines already escalated."""
    for deadline in DEADLINES:
        op.add_column("tickets", sa.Column(f"{deadline}_escalated_passed", sa.Boolean(), nullable=True))
    deadline_of_event, passed_of_event = _DETAILS[op.get_bind().dialect.name]
    for deadline in DEADLINES:
        op.execute(
            _REFILL.format(deadline=deadline, deadline_of_event=deadline_of_event, passed_of_event=passed_of_event)
        )


def downgrade() -> None:
    """Drop the two verdicts (the events keep theirs)."""
    for deadline in reversed(DEADLINES):
        op.drop_column("tickets", f"{deadline}_escalated_passed")
