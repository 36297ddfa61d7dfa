"""The deadline sweep: an open ticket whose deadline is near or passed is escalated to the
supervisor (practice document 004: 当处理时限临近时，系统自动升级至上级主管), once per deadline.

A sweep at `now` looks for pending deadlines whose warning time has come and that were not
escalated yet (`deadlines.needs_escalation_clause`; the rule and its default share are in
`api.services.deadlines`) and escalates each one in a transaction of its own: it stamps the
ticket's `<deadline>_escalated_at`, raises its revision (its history changes, and so does its
ETag) and adds a `deadline_escalated` event by `deadline-sweep` naming the deadline, its due time
and whether it had passed. The ticket's status, owner and labels stay as they are: the escalation
tells the supervisor level, it does not take the ticket from whoever works it.

No double escalation, whoever sweeps: the claim is one UPDATE whose WHERE repeats the whole
condition, `<deadline>_escalated_at IS NULL` included, and the event is written only when that
UPDATE changed the row, in the same transaction. Of two sweeps that picked the same deadline (two
workers, the service and `triage sweep` from cron, two hosts), on PostgreSQL the second UPDATE
waits for the first one's row lock and then re-reads the row, which no longer matches; on SQLite
writes are serialised and the second sees the first's commit. A ticket answered, resolved, closed
or re-tiered after it was picked is judged by its row at the time of the UPDATE.

Once per deadline: a later sweep, the deadline passing after its warning was escalated, or a
review that moves the due times does not escalate that deadline again. A reopened ticket's
resolution is pending again; if it was never escalated, the next sweep escalates it (it is
usually overdue by then); if it was, it is not escalated again (a reopen keeps the stamp).

The sweep's verdict, whether the deadline had already passed (`due < now` at the escalation), is
stamped with the time (`<deadline>_escalated_passed`, in the same UPDATE) and in the event, and it
stays what it was: a review that re-tiers the ticket afterwards moves the due times, not the
verdict. Statistics and exports count "passed" from that column, not from the due time as it is now.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session

from api.services.deadlines import DEADLINES, SUPERVISOR_LEVEL, Deadline, needs_escalation_clause
from api.tables import Ticket, TicketEvent

ESCALATED = "deadline_escalated"
"""The stage of the event a deadline escalation records (not a status: the ticket's stays)."""
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


def escalate(session: Session, *, ticket_id: int, deadline: Deadline, now: datetime, share: float) -> Escalation | None:
    """Escalate one deadline of one ticket if it still needs it, committing the stamp and the event
    together; None (and nothing written) when it does not, or another sweep did it first."""
    try:
        claimed = session.execute(
            update(Ticket)
            .where(Ticket.id == ticket_id, needs_escalation_clause(deadline, now, share))
            .values(
                {
                    deadline.escalated: now,
                    deadline.passed: deadline.due < now,
                    Ticket.revision: Ticket.revision + 1,
                    Ticket.updated_at: now,
                }
            )
            .returning(Ticket.ticket_no, Ticket.status, Ticket.tier, deadline.due, deadline.passed)
            .execution_options(synchronize_session=False)
        ).one_or_none()
        if claimed is None:
            session.rollback()
            return None
        ticket_no, status, tier, due, stamped = claimed
        passed = bool(stamped)  # the verdict the UPDATE stamped, `due < now`
        session.add(
            TicketEvent(
                ticket_id=ticket_id,
                stage=ESCALATED,
                from_status=status,
                actor=SWEEP_ACTOR,
                at=now,
                owner=None,
                note=None,
                details={
                    "deadline": deadline.kind,
                    "due": due.isoformat(),
                    "passed": passed,
                    "level": SUPERVISOR_LEVEL,
                },
            )
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return Escalation(ticket_no, deadline.kind, tier, due, passed)


def needing_escalation(deadline: Deadline, *, after: int, now: datetime, share: float) -> Select[int]:
    """The sweep's look-up: the ids, past `after`, of the next `BATCH` tickets whose `deadline`
    needs escalation at `now`, in id order (on open tickets: the partial index `ix_tickets_open`)."""
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
    each by ticket id), one transaction per deadline; returns what this sweep escalated.

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
                if stopping():
                    return done
                found = escalate(session, ticket_id=ticket_id, deadline=deadline, now=now, share=share)
                if found is not None:
                    done.append(found)
            if len(ids) < BATCH:
                break
            after = ids[-1]
    return done
