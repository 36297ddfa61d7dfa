"""What an escalation notification says, and to whom (practice document 003: 对超时未完成的节点及时提醒
责任人; 紧急投诉需第一时间升级至部门负责人).

The payload (`payload`) is JSON built when the notification is sent, from its escalation event and
the ticket: the event id (also the `Idempotency-Key` and `X-Triage-Event-Id` headers of the POST:
delivery is at least once, a receiver drops what it has seen), the kind (`deadline_escalated`, a
deadline near or passed, level 1, or passed unmet, level 2, with the deadline and its due time;
`urgent_head_escalated`, level 2, with its trigger, `intake` or `review`), the level and its
Chinese name, the recipient of that level in the department's `contacts` (`data/escalation.yaml`;
null when none is configured), the ticket number, tier, category, subtype and department (codes
and Chinese names, as the ticket has them when the notification is sent), the escalation time and
the ticket's console link path, plus one Chinese line (`summary`) a gateway can send as it is.

Never customer data: no complaint text, no name, contact, customer or order id, no agent's note.
The ticket number is the handle; whoever is told opens the ticket in the console.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from api.services.deadline_escalation import EVENT_STAGES
from api.services.deadlines import DEADLINES, ESCALATION_LEVEL_NAMES, HEAD_LEVEL, SUPERVISOR_LEVEL
from api.services.escalation import Contacts
from api.services.urgent_escalation import URGENT_HEAD_ESCALATED
from api.tables import Ticket, TicketEvent
from model.taxonomy import Taxonomy

DEADLINE_ESCALATED = "deadline_escalated"
URGENT = URGENT_HEAD_ESCALATED
KINDS = (DEADLINE_ESCALATED, URGENT)
CONSOLE_LINK = "/console#{ticket_no}"
"""The console path that opens a ticket (relative: the gateway knows the service's address)."""
_DEADLINE_STAGES = {stage: level for level, stage in EVENT_STAGES.items()}


@dataclass(frozen=True)
class Escalated:
    """The kind and level of an escalation event."""

    kind: str
    level: int


def escalated(record: TicketEvent) -> Escalated:
    """The kind and level of an escalation event (ValueError for another stage)."""
    if record.stage in _DEADLINE_STAGES:
        return Escalated(DEADLINE_ESCALATED, int(record.details.get("level", _DEADLINE_STAGES[record.stage])))
    if record.stage == URGENT:
        return Escalated(URGENT, HEAD_LEVEL)
    raise ValueError(f"event {record.id} ({record.stage}) is not an escalation")


def recipient(contacts: dict[str, Contacts], department: str, level: int) -> str | None:
    """Who is told of an escalation of `level` in `department`, when the escalation file names them."""
    entry = contacts.get(department)
    if entry is None:
        return None
    return entry.supervisor if level == SUPERVISOR_LEVEL else entry.head


def _named(code: str, names: dict[str, str]) -> dict[str, str]:
    return {"code": code, "name": names.get(code, code)}


def _local(value: str | datetime | None, zone: ZoneInfo) -> str | None:
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(zone).isoformat()


def payload(
    session: Session, event_id: int, *, taxonomy: Taxonomy, contacts: dict[str, Contacts], zone: ZoneInfo
) -> dict[str, Any]:
    """The JSON body of the notification of event `event_id` (times in the business time zone)."""
    record = session.get(TicketEvent, event_id)
    if record is None:
        raise LookupError(f"no ticket event {event_id}")
    ticket = session.get(Ticket, record.ticket_id)
    if ticket is None:
        raise LookupError(f"no ticket {record.ticket_id} for event {event_id}")
    what = escalated(record)
    level_name = ESCALATION_LEVEL_NAMES[what.level]
    tiers = {code: tier.name for code, tier in taxonomy.tiers.items()}
    categories = {code: category.name for code, category in taxonomy.categories.items()}
    subtypes = {code: subtype.name for code, subtype in taxonomy.subtypes.items()}
    deadline: dict[str, Any] | None = None
    if what.kind == DEADLINE_ESCALATED:
        kind = str(record.details.get("deadline", ""))
        deadline = {
            "kind": kind,
            "name": DEADLINES[kind].name if kind in DEADLINES else kind,
            "due": _local(record.details.get("due"), zone),
            "passed": bool(record.details.get("passed")),
        }
    body: dict[str, Any] = {
        "event_id": record.id,
        "kind": what.kind,
        "level": what.level,
        "level_name": level_name,
        "recipient": recipient(contacts, ticket.department, what.level),
        "ticket_no": ticket.ticket_no,
        "tier": _named(ticket.tier, tiers),
        "category": _named(ticket.category, categories),
        "subtype": _named(ticket.subtype, subtypes),
        "department": _named(ticket.department, taxonomy.departments),
        "escalated_at": _local(record.at, zone),
        "deadline": deadline,
        "trigger": record.details.get("trigger") if what.kind == URGENT else None,
        "link": CONSOLE_LINK.format(ticket_no=ticket.ticket_no),
    }
    body["summary"] = summary(body)
    return body


def summary(body: dict[str, Any]) -> str:
    """One Chinese line saying what happened, from the payload's own fields (no customer data), such as
    "【时限升级·部门负责人】TS-20261123-000001（P1 产品问题/质量安全，技术部）：首次响应时限 2026-11-23 11:00
    已超时未完成"."""
    ticket = (
        f"{body['ticket_no']}（{body['tier']['code']} {body['category']['name']}/{body['subtype']['name']}，"
        f"{body['department']['name']}）"
    )
    if body["kind"] == URGENT:
        how = "登记即升级" if body["trigger"] == "intake" else "审核定为紧急后升级"
        return f"【紧急投诉·{body['level_name']}】{ticket}：{how}，请协调处理"
    deadline = body["deadline"] or {}
    state = "已超时未完成" if deadline.get("passed") else "即将到期"
    due = deadline.get("due")
    shown = datetime.fromisoformat(due).strftime("%Y-%m-%d %H:%M") if isinstance(due, str) else "?"
    return f"【时限升级·{body['level_name']}】{ticket}：{deadline.get('name', '')}时限 {shown} {state}"
