"""The outbox of escalation notifications (`api.tables.Notification`): written with each escalation
event, claimed, and marked delivered or failed by the dispatcher (`api.notifier`).

**One place writes it**: a `before_flush` listener on the database's two session factories (the
requests' and the deadline sweep's, `install_outbox`), which adds an outbox row for every new
`TicketEvent` whose stage is an escalation (`ESCALATION_STAGES`: the sweep's two levels and the
urgent escalation at intake or review). The row is flushed and committed with its event, so an
escalation that commits is always notified and one rolled back never is, whichever code path
recorded it; nothing is sent from the request. Installed only while `TRIAGE_NOTIFY_URL` is set
(by the service and by `triage sweep`): otherwise nothing is recorded.

**Claims**: a row is due while `pending` with `next_attempt_at` passed. A dispatcher claims it
with one conditional UPDATE (`claim`): still pending, still due; it sets `next_attempt_at` to the
end of the attempt's lease and counts the attempt. Of two dispatchers (workers, hosts) that picked
the same row, on PostgreSQL the second UPDATE waits for the first one's row lock and re-reads a
row no longer due; on SQLite writes are serialised. The outcome (`record_outcome`) is written only
while the attempt is still the row's latest (`attempts` unchanged): an attempt that outlived its
lease, and was claimed again meanwhile, does not overwrite the newer one. Delivery is therefore
at least once: a dispatcher stopped between the POST and its record, or an attempt slower than
its lease, sends the event again, with the same event id for the receiver to drop.

**Back-off**: after the n-th failed attempt the row waits `backoff × 2^(n−1)` seconds, at most
`backoff_max`; after `max_attempts` failed ones it is `failed` (and stays, listed by
`GET /v1/notifications?state=failed`, until `triage notify-retry` queues it again: `requeue_failed`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, delete, event, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from api.db import Database
from api.services.deadline_escalation import EVENT_STAGES
from api.services.urgent_escalation import URGENT_HEAD_ESCALATED
from api.tables import Notification, Ticket, TicketEvent

ESCALATION_STAGES = frozenset({*EVENT_STAGES.values(), URGENT_HEAD_ESCALATED})
"""The stages of the events that are notified."""
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
MAX_ERROR = 200  # the column's length


ENQUEUED = "outbox_enqueued"
"""`Session.info` key: the session's transaction added an outbox row (read by `wake_on_commit`)."""


def enqueue_escalations(session: Session, _context: Any, _instances: Any) -> None:
    """`before_flush`: an outbox row for each new escalation event of the flush (due at once)."""
    for record in list(session.new):
        if isinstance(record, TicketEvent) and record.stage in ESCALATION_STAGES:
            session.info[ENQUEUED] = True
            session.add(
                Notification(
                    event=record,
                    state=PENDING,
                    attempts=0,
                    created_at=record.at,
                    next_attempt_at=record.at,
                )
            )


def install_outbox(*factories: sessionmaker[Session]) -> None:
    """Record an outbox row with every escalation event the sessions of `factories` write."""
    for factory in factories:
        if not event.contains(factory, "before_flush", enqueue_escalations):
            event.listen(factory, "before_flush", enqueue_escalations)


def wake_on_commit(factory: sessionmaker[Session], wake: Callable[[], None]) -> Callable[[], None]:
    """Call `wake` (the dispatcher's) after each commit of a session of `factory` whose transaction
    added an outbox row, so that the notification goes out at once, not at the end of the interval;
    returns the function that stops it. A rolled-back transaction wakes nobody."""

    def after_commit(session: Session) -> None:
        if session.info.pop(ENQUEUED, False):
            wake()

    def after_rollback(session: Session) -> None:
        session.info.pop(ENQUEUED, None)

    event.listen(factory, "after_commit", after_commit)
    event.listen(factory, "after_rollback", after_rollback)

    def stop() -> None:
        event.remove(factory, "after_commit", after_commit)
        event.remove(factory, "after_rollback", after_rollback)

    return stop


@dataclass(frozen=True)
class Claim:
    """A notification a dispatcher claimed: which, its event, and the attempt it is (1, 2, …)."""

    notification_id: int
    event_id: int
    attempt: int


def due_ids(session: Session, *, now: datetime, limit: int) -> list[int]:
    """The ids of up to `limit` notifications due at `now`, the longest waiting first (the read is
    ended: each claim is a transaction of its own)."""
    ids = list(
        session.scalars(
            select(Notification.id)
            .where(Notification.state == PENDING, Notification.next_attempt_at <= now)
            .order_by(Notification.next_attempt_at, Notification.id)
            .limit(limit)
        )
    )
    session.rollback()
    return ids


def claim(session: Session, *, notification_id: int, now: datetime, lease: timedelta) -> Claim | None:
    """Claim one due notification for an attempt that may last `lease`; None (nothing written)
    when it is no longer due: delivered, failed, or claimed by another dispatcher."""
    try:
        row = session.execute(
            update(Notification)
            .where(
                Notification.id == notification_id, Notification.state == PENDING, Notification.next_attempt_at <= now
            )
            .values(
                attempts=Notification.attempts + 1,
                next_attempt_at=now + lease,
                last_attempt_at=now,
            )
            .returning(Notification.event_id, Notification.attempts)
            .execution_options(synchronize_session=False)
        ).one_or_none()
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return None if row is None else Claim(notification_id, row.event_id, row.attempts)


def backoff_delay(attempt: int, *, backoff: float, backoff_max: float) -> timedelta:
    """The wait after the `attempt`-th failed attempt: `backoff` doubled each time, capped."""
    return timedelta(seconds=min(backoff * 2 ** min(attempt - 1, 62), backoff_max))


def record_outcome(
    session: Session,
    claimed: Claim,
    *,
    now: datetime,
    error: str | None,
    max_attempts: int,
    backoff: float,
    backoff_max: float,
) -> str | None:
    """Write the attempt's outcome: delivered (`error` None), else pending again after the back-off
    or failed once `max_attempts` are spent. Returns the new state, or None when the row moved on
    meanwhile (another attempt claimed it after this one's lease) and nothing was written."""
    values: dict[str, Any]
    if error is None:
        values = {"state": DELIVERED, "delivered_at": now, "next_attempt_at": None, "last_error": None}
    elif claimed.attempt >= max_attempts:
        values = {"state": FAILED, "next_attempt_at": None, "last_error": error[:MAX_ERROR]}
    else:
        delay = backoff_delay(claimed.attempt, backoff=backoff, backoff_max=backoff_max)
        values = {"state": PENDING, "next_attempt_at": now + delay, "last_error": error[:MAX_ERROR]}
    try:
        result = session.execute(
            update(Notification)
            .where(
                Notification.id == claimed.notification_id,
                Notification.state == PENDING,
                Notification.attempts == claimed.attempt,
            )
            .values(values)
            .execution_options(synchronize_session=False)
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return str(values["state"]) if getattr(result, "rowcount", 0) == 1 else None


def requeue_failed(session: Session, *, now: datetime) -> int:
    """Make every `failed` notification pending again, due at `now`, its attempts counted from zero
    (so it gets the whole back-off again); its last error stays until the next attempt. Returns how
    many; the caller commits."""
    result = session.execute(
        update(Notification)
        .where(Notification.state == FAILED)
        .values(state=PENDING, attempts=0, next_attempt_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0))


def prune_delivered(session: Session, *, before: datetime) -> int:
    """Delete the notifications delivered before `before` (their escalation events stay in the
    tickets' history; pending and failed rows are never deleted). Returns how many; commits."""
    try:
        result = session.execute(
            delete(Notification)
            .where(Notification.state == DELIVERED, Notification.delivered_at < before)
            .execution_options(synchronize_session=False)
        )
        session.commit()
    except BaseException:
        session.rollback()
        raise
    return int(getattr(result, "rowcount", 0))


@dataclass(frozen=True)
class OutboxBacklog:
    """The notifications not delivered: pending and failed counts, and the oldest pending one's age."""

    pending: int
    failed: int
    oldest_pending_age_seconds: float | None


def read_backlog(session: Session | Connection, *, now: datetime) -> OutboxBacklog:
    """The outbox's undelivered rows at `now` (one grouped query over the state index)."""
    counts = {PENDING: 0, FAILED: 0}
    oldest: datetime | None = None
    rows = session.execute(
        select(Notification.state, func.count(), func.min(Notification.created_at))
        .where(Notification.state.in_((PENDING, FAILED)))
        .group_by(Notification.state)
    )
    for state, count, first in rows:
        counts[state] = count
        if state == PENDING:
            oldest = first
    age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else None
    return OutboxBacklog(counts[PENDING], counts[FAILED], age)


def scrape_backlog(database: Database, *, now: datetime, timeout: float) -> OutboxBacklog:
    """`read_backlog` on a connection of the scrapes' own pool (on PostgreSQL cancelled after
    `timeout` seconds, as the ticket backlog's read); a database error is raised."""
    with database.scrape_connection(timeout) as connection:
        return read_backlog(connection, now=now)


def count_notifications(session: Session, *, state: str | None) -> int:
    """How many notifications there are (of `state`, when given): the number `list_notifications`
    pages through, read with one COUNT (on the index of `state`)."""
    statement = select(func.count()).select_from(Notification)
    if state is not None:
        statement = statement.where(Notification.state == state)
    return int(session.scalar(statement) or 0)


def list_notifications(
    session: Session, *, state: str | None, before_id: int | None, limit: int
) -> list[tuple[Notification, TicketEvent, str, str]]:
    """Up to `limit` notifications (of `state`, when given) with their events, ticket numbers and departments,
    newest first, those older than `before_id` when given (keyset paging)."""
    statement = (
        select(Notification, TicketEvent, Ticket.ticket_no, Ticket.department)
        .join(TicketEvent, Notification.event_id == TicketEvent.id)
        .join(Ticket, TicketEvent.ticket_id == Ticket.id)
        .order_by(Notification.id.desc())
        .limit(limit)
    )
    if state is not None:
        statement = statement.where(Notification.state == state)
    if before_id is not None:
        statement = statement.where(Notification.id < before_id)
    return [(row[0], row[1], row[2], row[3]) for row in session.execute(statement)]
