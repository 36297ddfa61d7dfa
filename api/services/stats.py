"""Ticket statistics per week or month: volumes, response times, SLA, repeats, CSAT, closure
confirmation, deadline escalations, live accuracy.

A ticket belongs to the period in which it was received (business time zone). A range
`from..to` is inclusive of both days; weeks are ISO weeks (Monday to Sunday, key `2026-W48`),
months are calendar months (key `2026-11`); the first and last period are clipped to the range.
Every figure is computed over the tickets of the period:

- volume: tickets per effective category, subtype, tier, department and channel.
- mean first-response hours: mean of (first response − received) over tickets with a first
  response (the first `customer_contacted` or `resolved` event); mean resolution hours likewise
  with the current resolution (a reopen clears it).
- SLA per tier (the effective tier) and per SLA: counts of met, breached and pending at the time
  of the request (`routing.sla_state`), and `breach_rate` = breached / (met + breached); null
  when nothing is decided yet.
- resolution rate: tickets resolved (or closed) / tickets.
- repeat rate: tickets with `repeat_of` / tickets.
- survey: number of current surveys (the survey of a closed ticket's latest closure; one taken
  before a reopen no longer counts, see `api.services.surveys`) and the mean of each 1–5 score
  over them.
- closure confirmation (闭环确认率), overall and per effective department: of the closed tickets,
  `confirmed` / `closed`, where `confirmed` are those whose closing feedback (the customer's answer
  recorded with the latest closure) confirms the solution: satisfied 满意 or mostly 基本满意, not
  not 不满意 (closing over it needs a note). A closure that was reopened no longer counts, like its
  survey; a closure recorded without feedback (none of this service's) is left out.
- deadline escalation (时限升级率), overall, per effective tier and per effective department:
  `escalated` / `tickets`,
  where `escalated` are the tickets with at least one deadline (first response or resolution)
  escalated to the supervisor by the deadline sweep (`api.services.deadline_escalation`); and per
  deadline the deadlines `escalated` and, of them, those `passed`: already past their due time when
  the sweep escalated them, the sweep's own verdict stamped with the escalation (a review that re-tiered
  the ticket afterwards moved the due time, not the verdict), and `head_escalated`: those that then
  passed unmet and were escalated to the department head (level 2), as the export writes them for
  the monthly report.
- live accuracy per head (category, subtype, tier, demand): over reviewed tickets, the share whose
  suggestion equals the agent's final label (the suggested tier is the model's, before escalation).
- autofilled share: tickets with `needs_review` false / tickets.

Rates are null for a period without tickets (or without reviewed tickets, for live accuracy).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any, Literal

from sqlalchemy import Row, select
from sqlalchemy.orm import Session, aliased

from api.services.deadlines import DEADLINES
from api.services.routing import sla_state
from api.services.surveys import is_current_closure, is_current_survey
from api.services.tracking import CONFIRMING_FEEDBACK, FEEDBACK_NAMES
from api.tables import Survey, Ticket, TicketEvent
from model.taxonomy import Taxonomy

GroupBy = Literal["week", "month"]
VOLUME_COLUMNS = ("category", "subtype", "tier", "department", "channel")
SURVEY_SCORES = ("timeliness", "effectiveness", "attitude", "overall")
ACCURACY_HEADS = ("category", "subtype", "tier", "demand")
CLOSURE = aliased(TicketEvent, name="closure")  # the `closed` event that closed a ticket

COLUMNS = (
    Ticket.received_at,
    Ticket.channel,
    Ticket.category,
    Ticket.subtype,
    Ticket.tier,
    Ticket.demand,
    Ticket.department,
    Ticket.suggested_category,
    Ticket.suggested_subtype,
    Ticket.suggested_tier,
    Ticket.suggested_demand,
    Ticket.final_category,
    Ticket.final_subtype,
    Ticket.final_tier,
    Ticket.final_demand,
    Ticket.reviewed_at,
    Ticket.needs_review,
    Ticket.repeat_of_id,
    # each deadline's columns, as `DEADLINES` names them
    *(
        column
        for deadline in DEADLINES.values()
        for column in (deadline.due, deadline.done, deadline.escalated, deadline.passed, deadline.head_escalated)
    ),
    Survey.timeliness,
    Survey.effectiveness,
    Survey.attitude,
    Survey.overall,
    CLOSURE.details.label("closure_details"),
)


@dataclass(frozen=True)
class Period:
    """A reporting period: its key and its first and last day (inclusive, clipped to the range)."""

    key: str
    start: date
    end: date


def period_key(day: date, group_by: GroupBy) -> str:
    """`2026-W48` (ISO week) or `2026-11` (month) of a day."""
    if group_by == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day.year}-{day.month:02d}"


def _next_start(day: date, group_by: GroupBy) -> date:
    if group_by == "week":
        return day + timedelta(days=7 - day.weekday())
    return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)


def periods(first: date, last: date, group_by: GroupBy) -> list[Period]:
    """The periods covering `first..last` (inclusive), in order."""
    found = []
    start = first
    while start <= last:
        following = _next_start(start, group_by)
        found.append(Period(period_key(start, group_by), start, min(last, following - timedelta(days=1))))
        start = following
    return found


def day_bounds(first: date, last: date, zone: tzinfo) -> tuple[datetime, datetime]:
    """[start of `first`, start of the day after `last`) in the business time zone."""
    return datetime.combine(first, time(), zone), datetime.combine(last + timedelta(days=1), time(), zone)


def load_rows(session: Session, start: datetime, end: datetime) -> list[Row[Any]]:
    """The columns statistics need, for tickets received in [start, end), with their current survey."""
    statement = (
        select(*COLUMNS)
        .select_from(Ticket)
        .outerjoin(Survey, is_current_survey())
        .outerjoin(CLOSURE, is_current_closure(CLOSURE))
        .where(Ticket.received_at >= start, Ticket.received_at < end)
        .order_by(Ticket.received_at, Ticket.id)
    )
    return list(session.execute(statement))


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _share(count: int, total: int) -> float | None:
    return count / total if total else None


def _hours(start: datetime, end: datetime | None) -> float | None:
    return (end - start).total_seconds() / 3600 if end is not None else None


def _sla(rows: Sequence[Row[Any]], tiers: Sequence[str], now: datetime) -> dict[str, dict[str, dict[str, Any]]]:
    result: dict[str, dict[str, dict[str, Any]]] = {}
    for deadline in DEADLINES.values():
        per_tier: dict[str, Counter[str]] = {tier: Counter() for tier in tiers}
        for row in rows:
            due, done = getattr(row, deadline.due.key), getattr(row, deadline.done.key)
            per_tier.setdefault(row.tier, Counter())[sla_state(due, done, now)] += 1
        result[deadline.kind] = {
            tier: {
                "met": counts["met"],
                "breached": counts["breached"],
                "pending": counts["pending"],
                "breach_rate": _share(counts["breached"], counts["met"] + counts["breached"]),
            }
            for tier, counts in per_tier.items()
        }
    return result


def _confirmation(feedback: Sequence[str]) -> dict[str, Any]:
    confirmed = sum(code in CONFIRMING_FEEDBACK for code in feedback)
    return {"closed": len(feedback), "confirmed": confirmed, "rate": _share(confirmed, len(feedback))}


def _closure_confirmation(rows: Sequence[Row[Any]]) -> dict[str, Any]:
    """Closures confirmed by the customer over closed tickets with a closing feedback, overall and per department."""
    answered = [
        (row.department, feedback)
        for row in rows
        if row.closure_details is not None and (feedback := row.closure_details.get("feedback")) in FEEDBACK_NAMES
    ]
    departments: dict[str, list[str]] = {}
    for department, feedback in answered:
        departments.setdefault(department, []).append(feedback)
    return {
        **_confirmation([feedback for _, feedback in answered]),
        "by_department": {department: _confirmation(codes) for department, codes in sorted(departments.items())},
    }


def _escalated_share(flags: Sequence[bool]) -> dict[str, Any]:
    return {"tickets": len(flags), "escalated": sum(flags), "rate": _share(sum(flags), len(flags))}


def _deadline_escalation(rows: Sequence[Row[Any]], tiers: Sequence[str]) -> dict[str, Any]:
    """Tickets with a deadline escalated over tickets, overall, per tier (each of `tiers`, and any
    other a ticket has) and per department, and per deadline the deadlines escalated, already passed
    when escalated (the sweep's verdict), and escalated to the department head."""
    deadlines: dict[str, dict[str, int]] = {}
    for deadline in DEADLINES.values():
        verdicts = [
            getattr(row, deadline.passed.key) for row in rows if getattr(row, deadline.escalated.key) is not None
        ]
        deadlines[deadline.kind] = {
            "escalated": len(verdicts),
            "passed": sum(verdict is True for verdict in verdicts),
            "head_escalated": sum(getattr(row, deadline.head_escalated.key) is not None for row in rows),
        }
    flags = [any(getattr(row, deadline.escalated.key) is not None for deadline in DEADLINES.values()) for row in rows]
    by_tier: dict[str, list[bool]] = {tier: [] for tier in tiers}
    departments: dict[str, list[bool]] = {}
    for row, flag in zip(rows, flags, strict=True):
        by_tier.setdefault(row.tier, []).append(flag)
        departments.setdefault(row.department, []).append(flag)
    return {
        **_escalated_share(flags),
        "by_tier": {tier: _escalated_share(marks) for tier, marks in by_tier.items()},
        "by_department": {department: _escalated_share(marks) for department, marks in sorted(departments.items())},
        **deadlines,
    }


def summarise(rows: Sequence[Row[Any]], taxonomy: Taxonomy, now: datetime) -> dict[str, Any]:
    """Every figure of the module docstring over `rows`."""
    total = len(rows)
    first = [h for row in rows if (h := _hours(row.received_at, row.first_responded_at)) is not None]
    resolution = [h for row in rows if (h := _hours(row.received_at, row.resolved_at)) is not None]
    surveyed = [row for row in rows if row.overall is not None]
    reviewed = [row for row in rows if row.reviewed_at is not None]
    return {
        "tickets": total,
        "volume": {
            column: dict(Counter(getattr(row, column) for row in rows).most_common()) for column in VOLUME_COLUMNS
        },
        "mean_first_response_hours": _mean(first),
        "mean_resolution_hours": _mean(resolution),
        "sla": _sla(rows, list(taxonomy.tiers), now),
        "resolution_rate": _share(sum(row.resolved_at is not None for row in rows), total),
        "repeat_rate": _share(sum(row.repeat_of_id is not None for row in rows), total),
        "survey": {
            "responses": len(surveyed),
            **{score: _mean([float(getattr(row, score)) for row in surveyed]) for score in SURVEY_SCORES},
        },
        "closure_confirmation": _closure_confirmation(rows),
        "deadline_escalation": _deadline_escalation(rows, list(taxonomy.tiers)),
        "reviewed": len(reviewed),
        "live_accuracy": {
            head: _share(
                sum(getattr(row, f"suggested_{head}") == getattr(row, f"final_{head}") for row in reviewed),
                len(reviewed),
            )
            for head in ACCURACY_HEADS
        },
        "autofilled_share": _share(sum(not row.needs_review for row in rows), total),
    }


def ticket_stats(
    session: Session,
    *,
    first: date,
    last: date,
    group_by: GroupBy,
    taxonomy: Taxonomy,
    zone: tzinfo,
    now: datetime,
) -> dict[str, Any]:
    """Statistics of the tickets received from `first` to `last` (inclusive), per period and in total."""
    rows = load_rows(session, *day_bounds(first, last, zone))
    grouped: dict[str, list[Row[Any]]] = {}
    for row in rows:
        grouped.setdefault(period_key(row.received_at.astimezone(zone).date(), group_by), []).append(row)
    return {
        "from": first,
        "to": last,
        "group_by": group_by,
        "periods": [
            {"period": period.key, "start": period.start, "end": period.end}
            | summarise(grouped.get(period.key, []), taxonomy, now)
            for period in periods(first, last, group_by)
        ],
        "total": summarise(rows, taxonomy, now),
    }
