"""Initial schema: tickets, ticket events, surveys, idempotency keys, ticket counters.

Revision ID: 0001
Revises:
Create Date: 2026-11-23

Written for both SQLite and PostgreSQL; the schema is frozen here (no import of api.tables), so
later changes to the models need a new revision.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _time() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def _label(name: str, length: int = 40, nullable: bool = False) -> sa.Column[str]:
    return sa.Column(name, sa.String(length), nullable=nullable)


def upgrade() -> None:
    """Create every table of the ticket service."""
    op.create_table(
        "ticket_counters",
        sa.Column("day", sa.String(8), nullable=False),
        sa.Column("last_value", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day", name=op.f("pk_ticket_counters")),
    )
    op.create_table(
        "tickets",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("ticket_no", sa.String(24), nullable=False),
        sa.Column("received_at", _time(), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=True),
        sa.Column("customer_name", sa.String(100), nullable=True),
        sa.Column("contact", sa.String(200), nullable=True),
        sa.Column("order_id", sa.String(64), nullable=True),
        sa.Column("product", sa.String(200), nullable=True),
        sa.Column("occurred_at", _time(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("text_issues", _json(), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("owner", sa.String(100), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        _label("category"),
        _label("subtype"),
        _label("tier", 16),
        _label("demand"),
        _label("department"),
        _label("suggested_category"),
        _label("suggested_subtype"),
        _label("suggested_tier", 16),
        _label("suggested_demand"),
        _label("suggested_department"),
        sa.Column("category_probability", sa.Float(), nullable=False),
        sa.Column("subtype_probability", sa.Float(), nullable=False),
        sa.Column("tier_probability", sa.Float(), nullable=False),
        sa.Column("department_probability", sa.Float(), nullable=False),
        sa.Column("top_tier_probability", sa.Float(), nullable=False),
        sa.Column("top_subtypes", _json(), nullable=False),
        sa.Column("explanation", _json(), nullable=False),
        sa.Column("needs_review", sa.Boolean(), nullable=False),
        sa.Column("review_reasons", _json(), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("emotion_index", sa.SmallInteger(), nullable=False),
        sa.Column("escalation_rule", sa.String(64), nullable=True),
        sa.Column("escalations", _json(), nullable=False),
        sa.Column("first_response_due", _time(), nullable=False),
        sa.Column("resolution_due", _time(), nullable=False),
        sa.Column("first_responded_at", _time(), nullable=True),
        sa.Column("resolved_at", _time(), nullable=True),
        sa.Column("closed_at", _time(), nullable=True),
        sa.Column("repeat_of_id", _id(), nullable=True),
        _label("final_category", nullable=True),
        _label("final_subtype", nullable=True),
        _label("final_tier", 16, nullable=True),
        _label("final_demand", nullable=True),
        sa.Column("reviewed_by", sa.String(100), nullable=True),
        sa.Column("reviewed_at", _time(), nullable=True),
        sa.Column("review_comment", sa.Text(), nullable=True),
        sa.Column("updated_at", _time(), nullable=False),
        sa.CheckConstraint("emotion_index BETWEEN 0 AND 100", name=op.f("ck_tickets_emotion_index_range")),
        sa.ForeignKeyConstraint(["repeat_of_id"], ["tickets.id"], name=op.f("fk_tickets_repeat_of_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tickets")),
        sa.UniqueConstraint("ticket_no", name=op.f("uq_tickets_ticket_no")),
    )
    for columns in (
        ["category"],
        ["channel"],
        ["customer_id", "category"],
        ["department"],
        ["needs_review"],
        ["received_at", "id"],
        ["status"],
        ["tier"],
    ):
        op.create_index(op.f(f"ix_tickets_{'_'.join(columns)}"), "tickets", columns)

    op.create_table(
        "idempotency_keys",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("ticket_id", _id(), nullable=True),
        sa.Column("created_at", _time(), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_idempotency_keys_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index(op.f("ix_idempotency_keys_created_at"), "idempotency_keys", ["created_at"])

    op.create_table(
        "surveys",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", _id(), nullable=False),
        sa.Column("timeliness", sa.SmallInteger(), nullable=False),
        sa.Column("effectiveness", sa.SmallInteger(), nullable=False),
        sa.Column("attitude", sa.SmallInteger(), nullable=False),
        sa.Column("overall", sa.SmallInteger(), nullable=False),
        sa.Column("method", sa.String(16), nullable=True),
        sa.Column("best_aspects", _json(), nullable=False),
        sa.Column("improve_aspects", _json(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("surveyed_by", sa.String(100), nullable=False),
        sa.Column("surveyed_at", _time(), nullable=False),
        *(
            sa.CheckConstraint(f"{score} BETWEEN 1 AND 5", name=op.f(f"ck_surveys_{score}_range"))
            for score in ("timeliness", "effectiveness", "attitude", "overall")
        ),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_surveys_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_surveys")),
        sa.UniqueConstraint("ticket_id", name=op.f("uq_surveys_ticket_id")),
    )

    op.create_table(
        "ticket_events",
        sa.Column("id", _id(), autoincrement=True, nullable=False),
        sa.Column("ticket_id", _id(), nullable=False),
        sa.Column("stage", sa.String(24), nullable=False),
        sa.Column("from_status", sa.String(24), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("at", _time(), nullable=False),
        sa.Column("owner", sa.String(100), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("details", _json(), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name=op.f("fk_ticket_events_ticket_id_tickets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ticket_events")),
    )
    op.create_index(op.f("ix_ticket_events_ticket_id_id"), "ticket_events", ["ticket_id", "id"])


def downgrade() -> None:
    """Drop every table of the ticket service."""
    for table in ("ticket_events", "surveys", "idempotency_keys", "tickets", "ticket_counters"):
        op.drop_table(table)
