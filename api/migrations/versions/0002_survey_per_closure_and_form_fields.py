"""A survey per closure; the 地点, 诉求说明 and 接收人 fields of the 客户投诉登记表.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24

- `tickets` gains `location` (地点) and `demand_note` (the customer's demand in their words), free
  text masked at intake, and `received_by` (接收人: the name of the intake API key). Tickets
  created before this revision keep null in all three: who received them was not recorded.
- `surveys.ticket_id` is no longer unique: a survey belongs to one closure of its ticket, the
  `closed` event it followed (`closed_event_id`, unique), so a ticket closed again after a reopen
  can be surveyed again. Every existing survey is kept and linked to the last `closed` event of
  its ticket at or before the time it was recorded (the closure it judged: revision 0001 took a
  survey only from a closed ticket); when clocks disagree and there is none, to the ticket's
  first `closed` event; a survey whose ticket has no `closed` event at all (never made by the
  API) keeps a null link.

Written for both SQLite and PostgreSQL. The SQLite table `surveys` is rebuilt (batch mode) from
the definition frozen below, so its CHECK constraints are kept as they were.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SCORES = ("timeliness", "effectiveness", "attitude", "overall")


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def _surveys(revision: str) -> sa.Table:
    """`surveys` as revision 0001 or 0002 has it (the copy SQLite's batch mode rebuilds from, so
    that nothing of it is left to reflection)."""
    linked = revision == "0002"
    return sa.Table(
        "surveys",
        sa.MetaData(),
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
        sa.Column("surveyed_at", sa.DateTime(timezone=True), nullable=False),
        *([sa.Column("closed_event_id", _id(), nullable=True)] if linked else []),
        *(sa.CheckConstraint(f"{score} BETWEEN 1 AND 5", name=f"ck_surveys_{score}_range") for score in SCORES),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"], name="fk_surveys_ticket_id_tickets"),
        *(
            [
                sa.ForeignKeyConstraint(
                    ["closed_event_id"], ["ticket_events.id"], name="fk_surveys_closed_event_id_ticket_events"
                ),
                sa.UniqueConstraint("closed_event_id", name="uq_surveys_closed_event_id"),
                sa.Index("ix_surveys_ticket_id", "ticket_id"),
            ]
            if linked
            else [sa.UniqueConstraint("ticket_id", name="uq_surveys_ticket_id")]
        ),
        sa.PrimaryKeyConstraint("id", name="pk_surveys"),
    )


_LINK_TO_CLOSURE = """
UPDATE surveys SET closed_event_id = (
    SELECT max(ticket_events.id) FROM ticket_events
    WHERE ticket_events.ticket_id = surveys.ticket_id AND ticket_events.stage = 'closed'
      AND ticket_events.at <= surveys.surveyed_at
)
"""
_LINK_TO_FIRST_CLOSURE = """
UPDATE surveys SET closed_event_id = (
    SELECT min(ticket_events.id) FROM ticket_events
    WHERE ticket_events.ticket_id = surveys.ticket_id AND ticket_events.stage = 'closed'
)
WHERE closed_event_id IS NULL
"""


def upgrade() -> None:
    """Add the three ticket fields; link every survey to its closure, one survey per closure."""
    # Nullable columns without constraints: a plain ALTER TABLE on both databases (SQLite does
    # not rebuild `tickets`, which other tables reference).
    op.add_column("tickets", sa.Column("location", sa.Text(), nullable=True))
    op.add_column("tickets", sa.Column("demand_note", sa.Text(), nullable=True))
    op.add_column("tickets", sa.Column("received_by", sa.String(100), nullable=True))

    with op.batch_alter_table("surveys", copy_from=_surveys("0001")) as batch:
        batch.add_column(sa.Column("closed_event_id", _id(), nullable=True))
        batch.drop_constraint("uq_surveys_ticket_id", type_="unique")
        batch.create_unique_constraint("uq_surveys_closed_event_id", ["closed_event_id"])
        batch.create_foreign_key(
            "fk_surveys_closed_event_id_ticket_events", "ticket_events", ["closed_event_id"], ["id"]
        )
        batch.create_index("ix_surveys_ticket_id", ["ticket_id"])
    # Revision 0001 kept one survey per ticket: no two surveys link to the same closure.
    op.execute(_LINK_TO_CLOSURE)
    op.execute(_LINK_TO_FIRST_CLOSURE)


def downgrade() -> None:
    """Back to one survey per ticket, without the three ticket fields (their values are dropped).

    Refused when a ticket has several surveys: going back would lose all but one of them.
    """
    several = (
        op.get_bind()
        .execute(
            sa.text("SELECT count(*) FROM (SELECT ticket_id FROM surveys GROUP BY ticket_id HAVING count(*) > 1) AS t")
        )
        .scalar_one()
    )
    if several:
        raise RuntimeError(
            f"cannot go back to revision 0001: {several} ticket(s) have several surveys (one per closure), "
            "which 0001 cannot hold"
        )
    with op.batch_alter_table("surveys", copy_from=_surveys("0002")) as batch:
        batch.drop_index("ix_surveys_ticket_id")
        batch.drop_constraint("fk_surveys_closed_event_id_ticket_events", type_="foreignkey")
        batch.drop_constraint("uq_surveys_closed_event_id", type_="unique")
        batch.drop_column("closed_event_id")
        batch.create_unique_constraint("uq_surveys_ticket_id", ["ticket_id"])
    for column in ("received_by", "demand_note", "location"):
        op.drop_column("tickets", column)
