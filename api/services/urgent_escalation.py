"""Urgent complaints to the department head at once (practice document 003: 紧急投诉需第一时间升级至部门
负责人（如客服经理）协调处理，杜绝"拖延、敷衍"导致客户情绪升级).

A ticket whose tier is one of the escalation policy's `head_at_intake` (`data/escalation.yaml`, P1
by default) is escalated to the department head (部门负责人, escalation level 2) when it is filed,
in the transaction that creates it, or, when it was not (filed with another tier, before revision
0007, or while the list was empty), at its next review that leaves it with such a tier, in the
review's transaction: the ticket's `head_escalated_at` is stamped and
its history gets an `urgent_head_escalated` event by `INTAKE_ACTOR`. Once per ticket: a ticket
already stamped is not stamped again, and a review that lowers the tier keeps the stamp (the
department head was told; like the deadlines' stamps, an escalation that happened stays).

This is apart from the deadline sweep (`api.services.deadline_escalation`), which still escalates
the ticket's deadlines to the supervisor and, when they then pass unmet, to the department head;
its per-deadline stamps and statistics do not count these escalations. The ticket's
`escalation_level` is 2 when either happened (`api.services.deadlines.escalation_level`).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from api.services.deadlines import HEAD_LEVEL
from api.tables import Ticket, TicketEvent

URGENT_HEAD_ESCALATED = "urgent_head_escalated"
"""The stage of the event (not a status: the ticket's stays), 紧急投诉升级至部门负责人."""
INTAKE_ACTOR = "intake-policy"
"""The event's actor: the service's policy, not a person (as the sweep's `deadline-sweep`)."""
INTAKE, REVIEW = "intake", "review"
"""The event's `trigger`: the ticket's filing, or a review that left it with an urgent tier."""


def needs_head(ticket: Ticket, head_tiers: Collection[str]) -> bool:
    """The ticket's tier is escalated to the department head and the ticket was not yet."""
    return ticket.head_escalated_at is None and ticket.tier in head_tiers


def escalate_to_head(ticket: Ticket, *, now: datetime, trigger: str, reviewed_by: str | None = None) -> TicketEvent:
    """Stamp the ticket escalated to the department head at `now` and return the event to add with
    the change (the caller commits both together; at intake, before the ticket's INSERT, the caller
    sets the event's `ticket_id` once the ticket has its id)."""
    ticket.head_escalated_at = now
    details: dict[str, object] = {"level": HEAD_LEVEL, "tier": ticket.tier, "trigger": trigger}
    if trigger == REVIEW:
        details["reviewed_by"] = reviewed_by
        note = f"审核人 {reviewed_by} 将等级定为 {ticket.tier}，紧急投诉升级至部门负责人协调处理"
    else:
        note = f"{ticket.tier} 紧急投诉，登记即升级至部门负责人协调处理"
    return TicketEvent(
        ticket_id=ticket.id,
        stage=URGENT_HEAD_ESCALATED,
        from_status=ticket.status,
        actor=INTAKE_ACTOR,
        at=now,
        owner=None,
        note=note,
        details=details,
    )
