"""The deadline sweep: an open ticket whose deadline is near or passed is escalated to the
supervisor (level 1, practice document 004: 当处理时限临近时，系统自动升级至上级主管), and one whose
deadline then passes unmet to the department head (level 2, the product's own rule: no practice
document asks for it), once per deadline and level. Practice document 003's 紧急投诉需第一时间升级至
部门负责人 is another escalation, of urgent tickets when they are filed or reviewed
(`api.services.urgent_escalation`); the sweep neither makes nor counts it.

A sweep at `now` looks for pending deadlines that need either level
(`deadlines.needs_escalation_clause`; the rules and the default warning share are in
`api.services.deadlines`): to the supervisor, those whose warning time has come and that were not
escalated yet; to the department head, those past their due time that were escalated to the
supervisor and not to the head yet. It escalates each deadline, level by level, in a transaction
of its own per level: it stamps the ticket's `<deadline>_escalated_at` (level 1) or
`<deadline>_head_escalated_at` (level 2), raises its revision (its history changes, and so does
its ETag) and adds an event by `deadline-sweep`, `deadline_escalated` (level 1) or
`deadline_head_escalated` (level 2), naming the deadline, its due time, whether it had passed
and the level. A deadline found already overdue by the sweep (the first sweep after an upgrade, a
reopen, a sweep that did not run for a while) is escalated to the supervisor and then to the head
in the same sweep, two events in that order: the head always comes after the supervisor. The
ticket's status, owner and labels stay as they are: the escalation tells the level above, it does
not take the ticket from whoever works it.

No double escalation, whoever sweeps: the claim is one UPDATE whose WHERE repeats the whole
condition of its level, the level's stamp `IS NULL` included, and the event is written only when
that UPDATE changed the row, in the same transaction. Of two sweeps that picked the same deadline (two
workers, the service and `triage sweep` from cron, two hosts), on PostgreSQL the second UPDATE
waits for the first one's row lock and then re-reads the row, which no longer matches; on SQLite
writes are serialised and the second sees the first's commit. A ticket answered, resolved, closed
or re-tiered after it was picked is judged by its row at the time of the UPDATE.

Once per deadline and level: a later sweep or a review that moves the due times does not escalate
that deadline to a level again; a deadline met, a ticket closed, or re-tiered so that the deadline
is no longer overdue before the claim is not escalated to the head. A reopened ticket's resolution
is pending again; at each level, if it was never escalated to it, the next sweep escalates it (it
is usually overdue by then: to the supervisor, then to the head); if it was, it is not escalated
to it again (a reopen keeps the stamps).

The sweep's verdict on the escalation to the supervisor, whether the deadline had already passed
(`due < now` at the escalation), is stamped with the time (`<deadline>_escalated_passed`, in the
same UPDATE) and in the event (an escalation to the head is always of a passed deadline), and it
stays what it was: a review that re-tiers the ticket afterwards moves the due times, not the
verdict. Statistics and exports count "passed" from that column, not from the due time as it is now.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, case, literal, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from api.services.deadlines import DEADLINES, LEVELS, SUPERVISOR_LEVEL, Deadline, needs_escalation_clause
from api.tables import Ticket, TicketEvent

ESCALATED = "deadline_escalated"
"""The stage of the event an escalation to the supervisor records (not a status: the ticket's stays)."""
ESCALATED_TO_HEAD = "deadline_head_escalated"
"""The stage of the event an escalation to the department head records (its own stage, so that the
tracking sheet names it: 时限超时升级至部门负责人)."""
EVENT_STAGES = {SUPERVISOR_LEVEL: ESCALATED, **dict.fromkeys(LEVELS[1:], ESCALATED_TO_HEAD)}
LEVEL_ROLES = {SUPERVISOR_LEVEL: "the supervisor", **dict.fromkeys(LEVELS[1:], "the department head")}
"""Whom each level escalates to, as the sweep's log and `triage sweep` say it."""
SWEEP_ACTOR = "deadline-sweep"
BATCH = 200


@dataclass(frozen=True)
class Escalation:
    """One deadline escalated by a sweep."""

    ticket_no: str
    deadline: str
    tier: str
    due: datetime
    passed: bool
    level: int
    """`SUPERVISOR_LEVEL` or `HEAD_LEVEL` (api.services.deadlines)."""


def summary(done: list[Escalation]) -> str:
    """How many deadlines a sweep escalated to whom: "3 deadline(s): 2 to the supervisor, 1 to the department head"."""
    counts = [
        f"{count} to {role}"
        for level, role in LEVEL_ROLES.items()
        if (count := sum(item.level == level for item in done))
    ]
    return f"{len(done)} deadline(s): {', '.join(counts)}"


def escalate(
    session: Session, *, ticket_id: int, deadline: Deadline, now: datetime, share: float, level: int = SUPERVISOR_LEVEL
) -> Escalation | None:
    """Escalate one deadline of one ticket to `level` if it still needs it, committing the stamp and
    the event together; None (and nothing written) when it does not, or another sweep did it first."""
    stamps: dict[Any, Any] = {deadline.stamp(level): now}
    if level == SUPERVISOR_LEVEL:
        stamps[deadline.passed] = deadline.due < now
    try:
        claimed = session.execute(
            update(Ticket)
            .where(Ticket.id == ticket_id, needs_escalation_clause(deadline, now, share, levels=(level,)))
            # `now` is the sweep's start: a change made since then keeps the later updated_at
            .values({**stamps, Ticket.revision: Ticket.revision + 1, Ticket.updated_at: _later(Ticket.updated_at, now)})
            .returning(Ticket.ticket_no, Ticket.status, Ticket.tier, deadline.due, deadline.passed)
            .execution_options(synchronize_session=False)
        ).one_or_none()
        if claimed is None:
            session.rollback()
            return None
        ticket_no, status, tier, due, stamped = claimed
        # the verdict the UPDATE stamped, `due < now`; the head's claim needs `due < now`
        passed = level != SUPERVISOR_LEVEL or bool(stamped)
        session.add(
            TicketEvent(
                ticket_id=ticket_id,
                stage=EVENT_STAGES[level],
                from_status=status,
                actor=SWEEP_ACTOR,
                at=now,
                owner=None,
                note=None,
                details={
                    "deadline": deadline.kind,
                    "due": due.isoformat(),
                    "passed": passed,
                    "level": level,
                },
            )
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return Escalation(ticket_no, deadline.kind, tier, due, passed, level)


def _later(column: InstrumentedAttribute[datetime], moment: datetime) -> ColumnElement[datetime]:
    """SQL: the later of a stored time and `moment` (GREATEST, which SQLite lacks)."""
    return case((column > moment, column), else_=literal(moment, column.type))


def needing_escalation(deadline: Deadline, *, after: int, now: datetime, share: float) -> Select[int]:
    """The sweep's look-up: the ids, past `after`, of the next `BATCH` tickets whose `deadline`
    needs escalation to either level at `now`, in id order (one look-up for both levels, on open
    tickets: the partial index `ix_tickets_open`)."""
    return (
        select(Ticket.id)
        .where(Ticket.id > after, needs_escalation_clause(deadline, now, share))
        .order_by(Ticket.id)
        .limit(BATCH)
    )


def sweep_deadlines(
    session: Session, *, now: datetime, share: float, stopping: Callable[[], bool] = lambda: False
) -> list[Escalation]:
    """Escalate every deadline that needs it at `now` (first responses first, then resolutions,
    each by ticket id, each deadline to the supervisor and then to the head), one transaction per
    deadline and level; returns what this sweep escalated, in that order.

    `stopping` is asked before each claim: once it says True the sweep returns what it has done
    (a service shutting down does not wait for the first sweep after an upgrade, which may
    escalate every open overdue ticket; the next sweep carries on)."""
    done: list[Escalation] = []
    for deadline in DEADLINES.values():
        after = -1
        while not stopping():
            ids = list(session.scalars(needing_escalation(deadline, after=after, now=now, share=share)))
            session.rollback()  # end the read: each claim is a transaction of its own
            for ticket_id in ids:
                for level in LEVELS:
                    if stopping():
                        return done
                    found = escalate(session, ticket_id=ticket_id, deadline=deadline, now=now, share=share, level=level)
                    if found is not None:
                        done.append(found)
            if len(ids) < BATCH:
                break
            after = ids[-1]
    return done
