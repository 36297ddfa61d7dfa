"""A ticket's two deadlines and when each is near, overdue or escalated: the one rule behind the
ticket's `overdue` and `due_soon`, the listing filters and the deadline sweep.

A ticket has two deadlines (SLAs): the first response (`first_response_due`, met by
`first_responded_at`) and the resolution (`resolution_due`, met by `resolved_at`). A deadline is
**pending** while the ticket is not closed and the deadline is not met (a reopen makes the
resolution pending again). Its **warning time** is when `share` of its window (received → due) is
left:

    warn_at = due − share × (due − received_at)

With the default share of 0.2 (`TRIAGE_DEADLINE_WARNING_SHARE`), once 80 % of the window has gone:
12 minutes before a P1 first response is due (1 h), 4 h 48 min before its resolution (24 h); 24 min
and 9 h 36 min for P2 (2 h / 48 h); 48 min and 14 h 24 min for P3 (4 h / 72 h). A share follows the
taxonomy's SLAs without a setting per tier, and a review that changes the tier (and so the due
times) moves the warning time with them.

A pending deadline is **due soon** from its warning time to its due time, and **overdue** after
it. One that has reached its warning time (due soon or overdue) and was not escalated yet is
escalated by the next sweep (`api.services.deadline_escalation`), which stamps
`<deadline>_escalated_at`.

Each condition is written once for a loaded ticket and once as SQL. The SQL compares times as
seconds since the epoch (`epoch_seconds`), which SQLite and PostgreSQL compute alike. "Not
closed" is written in the SQL as the literal `status != 'closed'` (`open_clause`), the predicate
of the partial index `ix_tickets_open` (revision 0004): a bound parameter in its place would keep
SQLite, and PostgreSQL's generic plans, from using that index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Float, and_, literal, or_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from api.services.tracking import CLOSED
from api.tables import Ticket

SUPERVISOR_LEVEL = 1
"""`escalation_level` of a ticket one of whose deadlines was escalated: the supervisor (上级主管)."""
ESCALATION_LEVEL_NAMES = {0: "未升级", SUPERVISOR_LEVEL: "上级主管"}


@dataclass(frozen=True)
class Deadline:
    """One of a ticket's deadlines: its code, its Chinese name and its four columns."""

    kind: str
    name: str
    due: InstrumentedAttribute[datetime]
    done: InstrumentedAttribute[datetime | None]
    escalated: InstrumentedAttribute[datetime | None]
    passed: InstrumentedAttribute[bool | None]
    """Whether the deadline had passed when it was escalated (null: not escalated)."""

    def due_of(self, ticket: Ticket) -> datetime:
        """The ticket's due time of this deadline."""
        value: datetime = getattr(ticket, self.due.key)
        return value

    def done_of(self, ticket: Ticket) -> datetime | None:
        """When the ticket met this deadline (None: not yet)."""
        value: datetime | None = getattr(ticket, self.done.key)
        return value

    def escalated_of(self, ticket: Ticket) -> datetime | None:
        """When this deadline of the ticket was escalated (None: not)."""
        value: datetime | None = getattr(ticket, self.escalated.key)
        return value

    def passed_of(self, ticket: Ticket) -> bool | None:
        """Whether this deadline had passed when it was escalated (None: not escalated)."""
        value: bool | None = getattr(ticket, self.passed.key)
        return value


FIRST_RESPONSE = Deadline(
    "first_response",
    "首次响应",
    Ticket.first_response_due,
    Ticket.first_responded_at,
    Ticket.first_response_escalated_at,
    Ticket.first_response_escalated_passed,
)
RESOLUTION = Deadline(
    "resolution",
    "解决",
    Ticket.resolution_due,
    Ticket.resolved_at,
    Ticket.resolution_escalated_at,
    Ticket.resolution_escalated_passed,
)
DEADLINES = {deadline.kind: deadline for deadline in (FIRST_RESPONSE, RESOLUTION)}


class epoch_seconds(FunctionElement[float]):  # noqa: N801 (an SQL function, named as SQL names them)
    """SQL: a stored time as seconds since 1970-01-01 UTC (a float)."""

    type = Float()
    name = "epoch_seconds"
    inherit_cache = True


@compiles(epoch_seconds, "postgresql")
def _epoch_postgresql(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(EXTRACT(EPOCH FROM {compiler.process(element.clauses, **kw)}) AS DOUBLE PRECISION)"


@compiles(epoch_seconds, "sqlite")
def _epoch_sqlite(element: epoch_seconds, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLite keeps UTC times as text, which julianday() reads as UTC (2440587.5: the epoch's day)
    return f"((julianday({compiler.process(element.clauses, **kw)}) - 2440587.5) * 86400.0)"


def warning_time(received_at: datetime, due: datetime, share: float) -> datetime:
    """When a deadline due at `due`, of a ticket received at `received_at`, becomes near."""
    return due - (due - received_at) * share


def is_pending(ticket: Ticket, deadline: Deadline) -> bool:
    """The ticket is not closed and has not met the deadline."""
    return ticket.status != CLOSED and deadline.done_of(ticket) is None


def deadline_warning(ticket: Ticket, deadline: Deadline, share: float) -> datetime:
    """The warning time of one of the ticket's deadlines."""
    return warning_time(ticket.received_at, deadline.due_of(ticket), share)


def is_overdue(ticket: Ticket, now: datetime) -> bool:
    """A pending deadline of the ticket is past its due time (the same condition as `overdue_clause`)."""
    return any(is_pending(ticket, deadline) and deadline.due_of(ticket) < now for deadline in DEADLINES.values())


def is_due_soon(ticket: Ticket, now: datetime, share: float) -> bool:
    """A pending deadline of the ticket is between its warning and its due time (as `due_soon_clause`)."""
    return any(
        is_pending(ticket, deadline) and deadline_warning(ticket, deadline, share) <= now <= deadline.due_of(ticket)
        for deadline in DEADLINES.values()
    )


def escalated_at(ticket: Ticket) -> datetime | None:
    """When the first of the ticket's deadlines was escalated to the supervisor (None: none was)."""
    times = [moment for deadline in DEADLINES.values() if (moment := deadline.escalated_of(ticket)) is not None]
    return min(times) if times else None


def escalation_level(ticket: Ticket) -> int:
    """0, or `SUPERVISOR_LEVEL` once one of the ticket's deadlines was escalated."""
    return SUPERVISOR_LEVEL if escalated_at(ticket) is not None else 0


def open_clause() -> ColumnElement[bool]:
    """SQL: the ticket is not closed (`status != 'closed'`, the literal in the SQL text)."""
    return Ticket.status != literal(CLOSED, literal_execute=True)


def _pending_clause(deadline: Deadline) -> ColumnElement[bool]:
    return and_(open_clause(), deadline.done.is_(None))


def _warned_clause(deadline: Deadline, now: datetime, share: float) -> ColumnElement[bool]:
    """SQL: the deadline's warning time is at or before `now` (`warning_time`, in seconds)."""
    warn_at = (1 - share) * epoch_seconds(deadline.due) + share * epoch_seconds(Ticket.received_at)
    return warn_at <= now.timestamp()


def overdue_clause(now: datetime) -> ColumnElement[bool]:
    """SQL: a pending deadline of the ticket is past its due time."""
    return or_(*(and_(_pending_clause(deadline), deadline.due < now) for deadline in DEADLINES.values()))


def due_soon_clause(now: datetime, share: float) -> ColumnElement[bool]:
    """SQL: a pending deadline of the ticket is between its warning and its due time."""
    return or_(
        *(
            and_(_pending_clause(deadline), _warned_clause(deadline, now, share), deadline.due >= now)
            for deadline in DEADLINES.values()
        )
    )


def escalated_clause() -> ColumnElement[bool]:
    """SQL: one of the ticket's deadlines was escalated."""
    return or_(*(deadline.escalated.is_not(None) for deadline in DEADLINES.values()))


def needs_escalation_clause(deadline: Deadline, now: datetime, share: float) -> ColumnElement[bool]:
    """SQL: the deadline is pending, its warning time has come, and it was not escalated yet."""
    return and_(_pending_clause(deadline), deadline.escalated.is_(None), _warned_clause(deadline, now, share))
