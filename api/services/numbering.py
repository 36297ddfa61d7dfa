"""Ticket numbers `TS-YYYYMMDD-NNNNNN` and received times, taken together inside the ticket's transaction.

`take_number` first makes the transaction the only intake numbering a ticket (on PostgreSQL a
transaction-level advisory lock; SQLite lets one transaction write at a time, and this one writes
from here on), then reads the clock, then bumps the `ticket_counters` row of that time's business
day (`INSERT … ON CONFLICT DO UPDATE … RETURNING`). The lock is held until the ticket is committed,
so ticket numbers, received times, row ids and commits all follow one order, across the business
day's end too: a ticket stored later never has an earlier received time than one already listed.
Two processes can never get the same number, and a rolled-back ticket gives its number back.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo

from sqlalchemy import false, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from api.errors import Unavailable
from api.tables import TicketCounter

PREFIX = "TS"
MAX_PER_DAY = 999_999
TICKET_NO = re.compile(rf"{PREFIX}-[0-9]{{8}}-[0-9]{{6}}")
"""The shape of every ticket number this service gives."""

_INTAKE_LOCK = 7_310_000_005  # any constant: "complaint-triage ticket numbering" (db.py's is the migrations')


def business_day(moment: datetime, zone: tzinfo) -> str:
    """`YYYYMMDD` of an aware time in the business time zone."""
    return moment.astimezone(zone).strftime("%Y%m%d")


def _numbers_used_up(received_at: datetime, zone: tzinfo) -> Unavailable:
    """The 503 of a day whose numbers are all given, with the seconds until the next day's begin."""
    local = received_at.astimezone(zone)
    next_day = datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), tzinfo=zone)
    day = business_day(received_at, zone)
    error = Unavailable(
        f"the ticket numbers of {local:%Y-%m-%d} are used up ({PREFIX}-{day}-000001 to {PREFIX}-{day}-{MAX_PER_DAY}); "
        f"nothing was stored: send the ticket again from {next_day:%Y-%m-%d} 00:00 ({getattr(zone, 'key', zone)}), "
        "with the same Idempotency-Key",
        type="ticket_numbers_used_up",
    )
    error.headers["Retry-After"] = str(max(1, math.ceil((next_day - received_at).total_seconds())))
    return error


def take_number(session: Session, *, clock: Callable[[], datetime], zone: tzinfo) -> tuple[str, datetime]:
    """The next ticket number and the ticket's received time, read after the numbering lock (inside
    the caller's transaction, which holds the lock until it ends).

    Raises `Unavailable` (503 `ticket_numbers_used_up`, with Retry-After) when the received day has
    given all its MAX_PER_DAY numbers.
    """
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(_INTAKE_LOCK)))
    else:  # a write, however empty, takes SQLite's one write lock until the transaction ends
        session.execute(update(TicketCounter).where(false()).values(last_value=TicketCounter.last_value))
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    received_at = clock()
    day = business_day(received_at, zone)
    statement = (
        insert(TicketCounter)
        .values(day=day, last_value=1)
        .on_conflict_do_update(index_elements=["day"], set_={"last_value": TicketCounter.last_value + 1})
        .returning(TicketCounter.last_value)
    )
    value = int(session.execute(statement).scalar_one())
    if value > MAX_PER_DAY:
        raise _numbers_used_up(received_at, zone)
    return f"{PREFIX}-{day}-{value:06d}", received_at
