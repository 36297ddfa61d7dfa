"""Escalation notifications: the outbox of the escalation events to send to the team's gateway.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-09

- `notifications`: one row per escalation event (`deadline_escalated`, `deadline_head_escalated`,
  `urgent_head_escalated`) written while `TRIAGE_NOTIFY_URL` is set, in the event's own
  transaction (`api.services.outbox`), and its delivery state (`api.notifier`). Events recorded
  before this revision get no row: their people were not told then, and a message now, hours or
  days late, would say they were escalated now.

Written for both SQLite and PostgreSQL: a new table, nothing else touched.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the outbox of escalation notifications."""
    op.create_table(
        "notifications",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("event_id", _id(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", _time(), nullable=False),
        sa.Column("next_attempt_at", _time(), nullable=True),
        sa.Column("last_attempt_at", _time(), nullable=True),
        sa.Column("delivered_at", _time(), nullable=True),
        sa.Column("last_error", sa.String(200), nullable=True),
        sa.CheckConstraint("state IN ('pending', 'delivered', 'failed')", name=op.f("ck_notifications_state_known")),
        sa.ForeignKeyConstraint(
            ["event_id"], ["ticket_events.id"], name=op.f("fk_notifications_event_id_ticket_events")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("event_id", name=op.f("uq_notifications_event_id")),
    )
    op.create_index(op.f("ix_notifications_state_next_attempt_at"), "notifications", ["state", "next_attempt_at"])


def downgrade() -> None:
    """Drop the outbox (notifications not yet sent are lost; the escalation events stay)."""
    op.drop_table("notifications")
