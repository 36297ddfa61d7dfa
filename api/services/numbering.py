"""Ticket numbers `TS-YYYYMMDD-NNNNNN`: a per-day counter row bumped inside the ticket's transaction.

The counter is an `INSERT … ON CONFLICT DO UPDATE … RETURNING` on the `ticket_counters` row of
the business day, so two processes can never get the same number: the database serialises the
update, and a rolled-back ticket gives its number back.
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from api.tables import TicketCounter

PREFIX = "TS"
MAX_PER_DAY = 999_999
TICKET_NO = re.compile(rf"{PREFIX}-[0-9]{{8}}-[0-9]{{6}}")
"""The shape of every ticket number this service gives."""


class NumberingError(RuntimeError):
    """No ticket number can be given (the day's numbers are used up)."""


def business_day(moment: datetime, zone: tzinfo) -> str:
    """`YYYYMMDD` of an aware time in the business time zone."""
    return moment.astimezone(zone).strftime("%Y%m%d")


def next_ticket_no(session: Session, *, received_at: datetime, zone: tzinfo) -> str:
    """Take the next number of the received day (inside the caller's transaction)."""
    day = business_day(received_at, zone)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(TicketCounter)
        .values(day=day, last_value=1)
        .on_conflict_do_update(index_elements=["day"], set_={"last_value": TicketCounter.last_value + 1})
        .returning(TicketCounter.last_value)
    )
    value = int(session.execute(statement).scalar_one())
    if value > MAX_PER_DAY:
        raise NumberingError(f"more than {MAX_PER_DAY} tickets on {day}")
    return f"{PREFIX}-{day}-{value:06d}"
