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
it. The sweep (`api.services.deadline_escalation`) escalates it in two levels, once each: to the
supervisor (上级主管, `SUPERVISOR_LEVEL`) once it has reached its warning time (due soon or
overdue), stamping `<deadline>_escalated_at`; to the department head (部门负责人, `HEAD_LEVEL`)
once it is overdue and was escalated to the supervisor, stamping `<deadline>_head_escalated_at`.
A ticket's `escalation_level` is the highest level any of its deadlines reached, and 2 (the
department head) when the ticket itself was escalated to the head as urgent when filed or reviewed
(`head_escalated_at`, `api.services.urgent_escalation`), whatever its deadlines say.

Each condition is written once for a loaded ticket and once as SQL. The SQL compares times as
seconds since the epoch (`epoch_seconds`), which SQLite and PostgreSQL compute alike, to within
a millisecond (SQLite's julianday keeps milliseconds; both round floats): exactly at a warning
time the two may disagree for that long, so a sweep may leave a deadline to the next one. "Not
closed" is written in the SQL as the literal `status != 'closed'` (`open_clause`), the predicate
of the partial index `ix_tickets_open` (revision 0004): a bound parameter in its place would keep
SQLite, and PostgreSQL's generic plans, from using that index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Float, and_, case, literal, or_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from api.services.tracking import CLOSED
from api.tables import Ticket

SUPERVISOR_LEVEL = 1
"""`escalation_level` of a ticket one of whose deadlines was escalated: the supervisor (上级主管)."""
HEAD_LEVEL = 2
"""`escalation_level` of a ticket one of whose deadlines passed unmet after it was escalated to the
supervisor: the department head (部门负责人, such as the customer-service manager)."""
LEVELS = (SUPERVISOR_LEVEL, HEAD_LEVEL)
ESCALATION_LEVEL_NAMES = {0: "未升级", SUPERVISOR_LEVEL: "上级主管", HEAD_LEVEL: "部门负责人"}


@dataclass(frozen=True)
class Deadline:
    """One of a ticket's deadlines: its code, its Chinese name and its five columns."""

    kind: str
    name: str
    due: InstrumentedAttribute[datetime]
    done: InstrumentedAttribute[datetime | None]
    escalated: InstrumentedAttribute[datetime | None]
    passed: InstrumentedAttribute[bool | None]
    """Whether the deadline had passed when it was escalated (null: not escalated)."""
    head_escalated: InstrumentedAttribute[datetime | None]
    """When the deadline was escalated to the department head (null: not)."""

    def stamp(self, level: int) -> InstrumentedAttribute[datetime | None]:
        """The column of when this deadline was escalated to `level` (one of `LEVELS`)."""
        return self.escalated if level == SUPERVISOR_LEVEL else self.head_escalated

    def due_of(self, ticket: Ticket) -> datetime:
        """The ticket's due time of this deadline."""
        value: datetime = getattr(ticket, self.due.key)
        return value

    def done_of(self, ticket: Ticket) -> datetime | None:
        """When the ticket met this deadline (None: not yet)."""
        value: datetime | None = getattr(ticket, self.done.key)
        return value

    def escalated_of(self, ticket: Ticket, level: int = SUPERVISOR_LEVEL) -> datetime | None:
        """When this deadline of the ticket was escalated to `level` (None: not)."""
        value: datetime | None = getattr(ticket, self.stamp(level).key)
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
    Ticket.first_response_head_escalated_at,
)
RESOLUTION = Deadline(
    "resolution",
    "解决",
    Ticket.resolution_due,
    Ticket.resolved_at,
    Ticket.resolution_escalated_at,
    Ticket.resolution_escalated_passed,
    Ticket.resolution_head_escalated_at,
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
    """The highest level one of the ticket's deadlines was escalated to (0: none was), or `HEAD_LEVEL`
    when the ticket was escalated to the department head as urgent (as `escalation_level_case`)."""
    if ticket.head_escalated_at is not None:
        return HEAD_LEVEL
    return max(
        (
            level
            for level in LEVELS
            for deadline in DEADLINES.values()
            if deadline.escalated_of(ticket, level) is not None
        ),
        default=0,
    )


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


def escalated_clause(level: int = SUPERVISOR_LEVEL) -> ColumnElement[bool]:
    """SQL: one of the ticket's deadlines was escalated to `level` (to the supervisor: at any level,
    since a deadline reaches the department head only after the supervisor)."""
    return or_(*(deadline.stamp(level).is_not(None) for deadline in DEADLINES.values()))


def head_told_clause() -> ColumnElement[bool]:
    """SQL: the department head was told of the ticket: it was escalated to the head as urgent when
    filed or reviewed, or one of its deadlines was (`GET /v1/tickets?head_escalated=true`)."""
    return or_(Ticket.head_escalated_at.is_not(None), escalated_clause(HEAD_LEVEL))


def escalation_level_case() -> ColumnElement[int]:
    """SQL: the ticket's `escalation_level` (`escalation_level`): the department head when it was told,
    else the highest level one of its deadlines was escalated to (or 0)."""
    return case((head_told_clause(), HEAD_LEVEL), (escalated_clause(SUPERVISOR_LEVEL), SUPERVISOR_LEVEL), else_=0)


def _reached_clause(deadline: Deadline, level: int, now: datetime, share: float) -> ColumnElement[bool]:
    """SQL: the deadline has reached `level` at `now` and was not escalated to it yet: to the
    supervisor from its warning time, to the department head once overdue after the supervisor
    (escalated at or before `now`: a sweep whose `now` is older than another's supervisor stamp,
    as when several workers sweep at once, leaves the head to a later sweep rather than stamping
    the head before the supervisor)."""
    if level == SUPERVISOR_LEVEL:
        reached = _warned_clause(deadline, now, share)
    else:
        reached = and_(deadline.escalated.is_not(None), deadline.escalated <= now, deadline.due < now)
    return and_(deadline.stamp(level).is_(None), reached)


def needs_escalation_clause(
    deadline: Deadline, now: datetime, share: float, levels: tuple[int, ...] = LEVELS
) -> ColumnElement[bool]:
    """SQL: the deadline is pending and needs escalating to one of `levels` (`_reached_clause`).

    The pending condition comes first and once, outside the levels' OR: SQLite uses the partial
    index `ix_tickets_open` only when its predicate is a term of the WHERE's top-level AND."""
    return and_(_pending_clause(deadline), or_(*(_reached_clause(deadline, level, now, share) for level in levels)))
