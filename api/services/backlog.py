"""The backlog of open tickets, read from the database when /metrics is scraped: per tier, how many
open tickets are in each deadline state, how many were escalated, and how old the oldest one is.

An **open** ticket is one that is not closed (`deadlines.open_clause`). Its **state** is one of,
in this order:

- `awaiting_confirmation`: resolved, waiting for the customer's confirmation (status `resolved`;
  resolving met both deadlines, so none is pending, but a reopen may follow);
- `overdue`: a pending deadline of the ticket is past its due time (`deadlines.overdue_clause`,
  the ticket's `overdue`, `GET /v1/tickets?overdue=true`);
- `due_soon`: not overdue, and a pending deadline is between its warning and its due time
  (`deadlines.due_soon_clause`: `?due_soon=true&overdue=false`);
- `on_time`: none of these (no pending deadline has reached its warning time).

A ticket whose first response is overdue while its resolution is near counts as overdue only, so
the four states add up to the open tickets. The **oldest** ticket is the oldest still being
worked on: a resolved ticket waiting for a customer who never answers would otherwise set the
age for days while nobody has anything to do. **Escalated** open tickets are counted by their
`escalation_level` (`deadlines.escalation_level_case`): 1, a deadline escalated to the supervisor
and none to the department head; 2, a deadline escalated to the department head (by whichever
process swept), or the ticket escalated to the head as urgent when filed or reviewed. The states
depend on the warning share (`TRIAGE_DEADLINE_WARNING_SHARE`) and on `now`.

One grouped query reads it all (`backlog_statement`), on the open tickets only: with the partial
index `ix_tickets_open` (revision 0004) its cost follows the open tickets, not the table (see
bench/backlog_query.py). `scrape_backlog` holds a connection of the scrapes' own pool
(`Database.scrape_engine`: busy requests never make a scrape wait, and a scrape waits at most
`api.db.SCRAPE_POOL_TIMEOUT` for its connection) for that query alone, and on PostgreSQL bounds
it with a statement timeout (`TRIAGE_METRICS_QUERY_TIMEOUT_SECONDS`, 2 s by default, a lock wait
included); SQLite has no statement timeout.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, case, func, select

from api.db import Database
from api.services.deadlines import LEVELS, due_soon_clause, escalation_level_case, open_clause, overdue_clause
from api.services.tracking import RESOLVED
from api.tables import Ticket

AWAITING_CONFIRMATION = "awaiting_confirmation"
STATES = ("on_time", "due_soon", "overdue", AWAITING_CONFIRMATION)


@dataclass(frozen=True)
class TierBacklog:
    """The open tickets of one tier."""

    tickets: dict[str, int]
    """Open tickets per deadline state (every state of `STATES`, 0 included)."""
    escalated: dict[int, int]
    """Open tickets per highest escalation level (every level of `LEVELS`, 0 included)."""
    oldest_age_seconds: float | None
    """Seconds since the oldest open ticket still being worked on (not awaiting confirmation) was
    received (None: no such ticket)."""


def backlog_statement(now: datetime, share: float) -> Select[Any]:
    """SQL: one row per tier and deadline state present among the open tickets, with the number of
    tickets, how many of them reached each escalation level as their highest (`level_1`, `level_2`),
    and the earliest `received_at`."""
    state = case(
        (Ticket.status == RESOLVED, AWAITING_CONFIRMATION),
        (overdue_clause(now), "overdue"),
        (due_soon_clause(now, share), "due_soon"),
        else_="on_time",
    )
    open_tickets = (
        select(Ticket.tier, state.label("state"), escalation_level_case().label("level"), Ticket.received_at)
        .where(open_clause())
        .subquery("open_tickets")
    )
    columns = open_tickets.c
    # grouped by state first: grouped by tier first, SQLite (without ANALYZE statistics) walks the
    # whole of ix_tickets_tier to save the sort of a few rows instead of reading ix_tickets_open
    return select(
        columns.tier,
        columns.state,
        func.count().label("tickets"),
        *(func.sum(case((columns.level == level, 1), else_=0)).label(f"level_{level}") for level in LEVELS),
        func.min(columns.received_at).label("oldest"),
    ).group_by(columns.state, columns.tier)


def read_backlog(
    connection: Connection, *, now: datetime, share: float, tiers: Iterable[str] = ()
) -> dict[str, TierBacklog]:
    """The backlog at `now` per tier: each of `tiers` (with zeros when it has no open ticket) and
    every other tier an open ticket has."""
    rows = connection.execute(backlog_statement(now, share)).all()
    counts: dict[str, dict[str, int]] = {tier: dict.fromkeys(STATES, 0) for tier in tiers}
    escalated: dict[str, dict[int, int]] = {tier: dict.fromkeys(LEVELS, 0) for tier in counts}
    oldest: dict[str, datetime] = {}
    for row in rows:
        tier, state, received_at = row.tier, row.state, row.oldest
        counts.setdefault(tier, dict.fromkeys(STATES, 0))[state] = int(row.tickets)
        levels = escalated.setdefault(tier, dict.fromkeys(LEVELS, 0))
        for level in LEVELS:
            levels[level] += int(row._mapping[f"level_{level}"])
        if state != AWAITING_CONFIRMATION:
            oldest[tier] = min(oldest.get(tier, received_at), received_at)
    return {
        tier: TierBacklog(
            tickets=states,
            escalated=escalated[tier],
            oldest_age_seconds=(now - oldest[tier]).total_seconds() if tier in oldest else None,
        )
        for tier, states in sorted(counts.items())
    }


def scrape_backlog(
    database: Database, *, now: datetime, share: float, timeout: float, tiers: Iterable[str] = ()
) -> dict[str, TierBacklog]:
    """`read_backlog` on a connection of the scrapes' own pool, held for the query only (on PostgreSQL cancelled
    after `timeout` seconds); a database error is raised."""
    with database.scrape_connection(timeout) as connection:
        return read_backlog(connection, now=now, share=share, tiers=tiers)
