"""Tickets as CSV rows in the export format of `training.monthly.EXPORT_COLUMNS`.

Two uses, one format:

- **training rows** (default): the tickets an agent reviewed, with the final labels in
  `category`, `subtype`, `tier`, `demand` and the model's suggestion in `suggested_*`;
  `triage train --data base.csv --data export.csv` reads `text`, the labels, `channel` and
  `created_at` and ignores the other columns. A reviewed ticket whose text training would refuse
  (no letters at all, too long) is left out and counted.
- **every ticket** (`all_tickets`): for the monthly report; unreviewed tickets carry
  `reviewed` = "false" and their effective labels (the suggestion, raised by escalation).

Tickets are selected by received time (business time zone) and written oldest first. Times are
ISO 8601 in the business time zone, empty when unset; booleans are "true"/"false"; the SLA
columns hold met / breached / pending at the time of the export; the text is the stored
(PII-masked) text, and `location` and `demand_note` are stored masked too; `received_by` is the
API client that created the ticket (empty for tickets created before it was recorded). The
survey columns hold the ticket's current survey (of its latest closure, while it is closed; see
`api.services.surveys`), empty when it has none; `closing_feedback` the customer's answer recorded
with that closure (satisfied / mostly / not), empty unless the ticket is closed.
`first_response_escalated_at` and `resolution_escalated_at` are when the deadline sweep escalated
that deadline to the supervisor (`api.services.deadline_escalation`, once per deadline), empty
when it did not; `first_response_escalated_passed` and `resolution_escalated_passed` whether that
deadline had already passed then ("true"/"false", the sweep's verdict stamped with the time, which
a later re-tiering does not change; empty when not escalated); `first_response_head_escalated_at`
and `resolution_head_escalated_at` when the sweep escalated that deadline, passed unmet, to the
department head (level 2), empty when it did not; `head_escalated_at` when the ticket itself was
escalated to the department head as urgent, when filed or at a later review that left it with an
urgent tier (`api.services.urgent_escalation`), empty when it was not. New columns come last, so that a reader of the
earlier columns reads the file as before.
"""

from __future__ import annotations

import csv
from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from api.services.deadlines import DEADLINES, HEAD_LEVEL
from api.services.routing import sla_state
from api.services.surveys import is_current_closure, is_current_survey
from api.tables import Survey, Ticket, TicketEvent
from model.files import replaced_atomically
from model.taxonomy import Taxonomy
from training.data import Problem, check_record, label_spellings
from training.monthly import EXPORT_COLUMNS
from training.spreadsheet import text_row

SURVEY_SCORES = ("timeliness", "effectiveness", "attitude", "overall")


@dataclass
class ExportResult:
    """What an export wrote and which reviewed tickets it left out (with why)."""

    written: int = 0
    skipped: list[Problem] = field(default_factory=list)


def _time(moment: datetime | None, zone: tzinfo) -> str:
    return moment.astimezone(zone).isoformat(timespec="seconds") if moment is not None else ""


def _flag(value: bool) -> str:
    return "true" if value else "false"


def _optional_flag(value: bool | None) -> str:
    return "" if value is None else _flag(value)


def export_row(
    ticket: Ticket,
    survey: Survey | None,
    repeat_of: str | None,
    *,
    closure: TicketEvent | None,
    zone: tzinfo,
    now: datetime,
) -> dict[str, str]:
    """One ticket as an export row (final labels when reviewed, else the effective ones) with its
    current survey and the feedback of its closure (`closure`, the `closed` event that closed it)."""
    reviewed = ticket.reviewed_at is not None
    labels = {
        "category": (ticket.final_category if reviewed else None) or ticket.category,
        "subtype": (ticket.final_subtype if reviewed else None) or ticket.subtype,
        "tier": (ticket.final_tier if reviewed else None) or ticket.tier,
        "demand": (ticket.final_demand if reviewed else None) or ticket.demand,
    }
    row = {
        "ticket_no": ticket.ticket_no,
        "created_at": _time(ticket.received_at, zone),
        "channel": ticket.channel,
        "status": ticket.status,
        "text": ticket.text,
        **labels,
        "suggested_category": ticket.suggested_category,
        "suggested_subtype": ticket.suggested_subtype,
        "suggested_tier": ticket.suggested_tier,
        "suggested_demand": ticket.suggested_demand,
        "needs_review": _flag(ticket.needs_review),
        "reviewed": _flag(reviewed),
        "reviewed_by": ticket.reviewed_by or "",
        "reviewed_at": _time(ticket.reviewed_at, zone),
        "department": ticket.department,
        "model_version": ticket.model_version,
        "first_response_due": _time(ticket.first_response_due, zone),
        "first_response_at": _time(ticket.first_responded_at, zone),
        "resolution_due": _time(ticket.resolution_due, zone),
        "resolved_at": _time(ticket.resolved_at, zone),
        "closed_at": _time(ticket.closed_at, zone),
        "first_response_sla": sla_state(ticket.first_response_due, ticket.first_responded_at, now),
        "resolution_sla": sla_state(ticket.resolution_due, ticket.resolved_at, now),
        "repeat_of": repeat_of or "",
        "emotion_index": str(ticket.emotion_index),
        **{f"survey_{score}": str(getattr(survey, score)) if survey is not None else "" for score in SURVEY_SCORES},
        "location": ticket.location or "",
        "demand_note": ticket.demand_note or "",
        "received_by": ticket.received_by or "",
        "closing_feedback": str(closure.details.get("feedback") or "") if closure is not None else "",
        **{
            f"{deadline.kind}_escalated_at": _time(deadline.escalated_of(ticket), zone)
            for deadline in DEADLINES.values()
        },
        **{
            f"{deadline.kind}_escalated_passed": _optional_flag(deadline.passed_of(ticket))
            for deadline in DEADLINES.values()
        },
        **{
            f"{deadline.kind}_head_escalated_at": _time(deadline.escalated_of(ticket, HEAD_LEVEL), zone)
            for deadline in DEADLINES.values()
        },
        "head_escalated_at": _time(ticket.head_escalated_at, zone),
    }
    return {column: row[column] for column in EXPORT_COLUMNS}


def ticket_rows(
    session: Session, *, start: datetime, end: datetime, all_tickets: bool, zone: tzinfo, now: datetime
) -> Generator[dict[str, str]]:
    """Export rows of the tickets received in [start, end), oldest first (reviewed ones only by default).

    Rows are streamed: close the generator when not reading it to the end.
    """
    earlier = aliased(Ticket)
    closure = aliased(TicketEvent)
    statement = (
        select(Ticket, Survey, earlier.ticket_no, closure)
        .select_from(Ticket)
        .outerjoin(Survey, is_current_survey())
        .outerjoin(earlier, earlier.id == Ticket.repeat_of_id)
        .outerjoin(closure, is_current_closure(closure))
        .where(Ticket.received_at >= start, Ticket.received_at < end)
        .order_by(Ticket.received_at, Ticket.id)
        .execution_options(yield_per=500)
    )
    if not all_tickets:
        statement = statement.where(Ticket.reviewed_at.is_not(None))
    # Closing the generator (`contextlib.closing`) closes the result, and with it PostgreSQL's
    # server-side cursor, when the writer fails halfway.
    with session.execute(statement) as result:
        for ticket, survey, repeat_of, closed in result:
            yield export_row(ticket, survey, repeat_of, closure=closed, zone=zone, now=now)


def write_export(
    path: Path, rows: Iterable[dict[str, str]], *, taxonomy: Taxonomy | None = None, overwrite: bool = True
) -> ExportResult:
    """Write rows as CSV (all or nothing: a temporary file renamed into place).

    With `taxonomy`, rows that training would refuse are left out and reported in `skipped`.
    Without `overwrite`, a file already at `path` when the rows are written is kept (FileExistsError).
    """
    result = ExportResult()
    spellings = label_spellings(taxonomy) if taxonomy is not None else None
    path.parent.mkdir(parents=True, exist_ok=True)
    with replaced_atomically(path, newline="", overwrite=overwrite) as stream:
        writer = csv.DictWriter(stream, fieldnames=EXPORT_COLUMNS)
        writer.writeheader()
        for row in rows:
            if taxonomy is not None:
                problems = check_record(dict(row), taxonomy, spellings=spellings)
                if problems:
                    where = f"ticket {row['ticket_no']}"
                    result.skipped.extend(Problem(where, None, p.column, p.message) for p in problems)
                    continue
            writer.writerow(text_row(row))
            result.written += 1
    return result
