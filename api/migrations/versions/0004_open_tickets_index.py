"""An index of the open tickets, for the deadline sweep's look-up and the backlog metrics.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-14

- `ix_tickets_open`: a partial index on `tickets (id)` of the tickets that are not closed
  (`status != 'closed'`, the literal `api.services.deadlines.open_clause` writes). The sweep's
  look-up (every 60 s in every worker) and the backlog query of each /metrics scrape read the open
  tickets only; without it both scanned the whole table, as `!=` cannot use `ix_tickets_status`.
  Its size follows the open tickets, not the table (see bench/backlog_query.py).

SQLite and PostgreSQL both have partial indexes; CREATE INDEX needs no table rebuild on either.
It is built inside the migration's transaction, which blocks writes to `tickets` while it runs
(530 ms at most for a single write during the build on 2,000,000 tickets on PostgreSQL). Not
CONCURRENTLY: that build waits for every transaction of the database older than it, including a
second worker's wait for the migration lock (`api.db`), which waits for this one: PostgreSQL then
aborts one of them ("deadlock detected", seen when two test runs migrated the same database).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

OPEN = sa.text("status != 'closed'")


def upgrade() -> None:
    """Create the partial index of open tickets."""
    op.create_index("ix_tickets_open", "tickets", ["id"], postgresql_where=OPEN, sqlite_where=OPEN)


def downgrade() -> None:
    """Drop it."""
    op.drop_index("ix_tickets_open", table_name="tickets")
