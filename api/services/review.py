"""An agent's review of a ticket: accept or correct the labels; routing and SLA follow the result.

The ticket keeps the model's suggestion (`suggested_*`) and gets the reviewer's final labels
(`final_*`), who reviewed and when. The effective labels (`category`, `subtype`, `tier`,
`demand`) become the final ones; the department follows the subtype and, when the tier changes,
both due times are recomputed from the received time. Every review adds a `reviewed` event with
the labels before and after; a re-review replaces the final labels (the last one wins).

- `accept` confirms the labels the ticket shows (on a first review: the suggestion, with any
  escalation applied).
- `correct` changes at least one of category, subtype, tier, demand; the others keep their
  value. Given a subtype only, the category is the subtype's; given a category only, the
  subtype must still belong to it (or the category must have a single subtype).
- A tier less urgent than the ticket's current tier (tiers are listed most urgent first in the
  taxonomy) is a downgrade: it needs a comment and is flagged in the event.
- The escalation rules run at intake only: a review does not run them again. The agent's tier
  wins, even below the tier a rule raised (a downgrade), and a subtype corrected into one that a
  `subtypes` rule raises keeps the ticket's tier; the intake firings stay on the ticket.
- A review that gives the ticket a tier of the policy's `head_at_intake` (P1 by default) escalates
  it to the department head at once, in the same transaction, unless it was already
  (`api.services.urgent_escalation`); a review that lowers the tier keeps that stamp.
- A closed ticket is not reviewed (409 `ticket_closed`): reopen it first.
- When the category changes, `repeat_of` is looked up again (the customer's earlier ticket of
  the new category, as intake would have found it); when the department changes, the owner of
  the old department is no longer the ticket's (the new department assigns one).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from api.errors import Conflict, InvalidInput
from api.schemas import ReviewRequest
from api.services.events import commit_event
from api.services.routing import sla_due
from api.services.tickets import find_repeat
from api.services.urgent_escalation import REVIEW, escalate_to_head, needs_head
from api.tables import Ticket, TicketEvent
from model.taxonomy import Taxonomy
from model.text import mask_optional

REVIEWED = "reviewed"
LABEL_FIELDS = ("category", "subtype", "tier", "demand")


@dataclass(frozen=True)
class Labels:
    """The effective labels of a ticket."""

    category: str
    subtype: str
    tier: str
    demand: str


def _snapshot(ticket: Ticket) -> dict[str, Any]:
    return {
        "category": ticket.category,
        "subtype": ticket.subtype,
        "tier": ticket.tier,
        "demand": ticket.demand,
        "department": ticket.department,
        "owner": ticket.owner,
        "first_response_due": ticket.first_response_due.isoformat(),
        "resolution_due": ticket.resolution_due.isoformat(),
    }


def _check_code(value: str | None, allowed: list[str], field: str) -> None:
    if value is not None and value not in allowed:
        raise InvalidInput(
            f"{field} {value!r} is not one of {', '.join(allowed)}",
            loc=["body", field],
            type="unknown_code",
            allowed=allowed,
        )


def _subtype_for(request: ReviewRequest, current: str, category: str, taxonomy: Taxonomy) -> str:
    """The final subtype of a correction that names category `category`."""
    allowed = list(taxonomy.categories[category].subtypes)
    if request.subtype is not None:
        if request.subtype not in allowed:
            raise InvalidInput(
                f"subtype {request.subtype!r} belongs to {taxonomy.subtypes[request.subtype].category}, not to "
                f"{category}; expected one of {', '.join(allowed)}",
                loc=["body", "subtype"],
                type="subtype_not_in_category",
                allowed=allowed,
            )
        return request.subtype
    if current in allowed:
        return current
    if len(allowed) == 1:
        return allowed[0]
    raise InvalidInput(
        f"the category becomes {category}: give one of its subtypes ({', '.join(allowed)})",
        loc=["body", "subtype"],
        type="subtype_required",
        allowed=allowed,
    )


def target_labels(ticket: Ticket, request: ReviewRequest, taxonomy: Taxonomy) -> Labels:
    """The labels a review leaves on the ticket; 422 naming the field for anything invalid."""
    given = {field: getattr(request, field) for field in LABEL_FIELDS if getattr(request, field) is not None}
    current = Labels(ticket.category, ticket.subtype, ticket.tier, ticket.demand)
    if request.action == "accept":
        if given:
            field = next(iter(given))
            raise InvalidInput(
                f"accept takes no labels ({', '.join(given)} given); use action 'correct' to change them",
                loc=["body", field],
                type="unexpected_label",
            )
        return current
    if not given:
        raise InvalidInput(
            "a correction needs at least one of category, subtype, tier, demand",
            loc=["body"],
            type="missing_correction",
        )
    _check_code(request.category, list(taxonomy.categories), "category")
    _check_code(request.subtype, list(taxonomy.subtypes), "subtype")
    _check_code(request.tier, list(taxonomy.tiers), "tier")
    _check_code(request.demand, list(taxonomy.demands), "demand")
    if request.category is not None:
        category = request.category
    elif request.subtype is not None:
        category = taxonomy.subtypes[request.subtype].category
    else:
        category = current.category
    if category in taxonomy.categories and (request.category is not None or request.subtype is not None):
        subtype = _subtype_for(request, current.subtype, category, taxonomy)
    else:
        subtype = current.subtype
    return Labels(category, subtype, request.tier or current.tier, request.demand or current.demand)


def is_downgrade(before: str, after: str, taxonomy: Taxonomy) -> bool:
    """True when tier `after` is less urgent than `before` (tiers are listed most urgent first)."""
    order = list(taxonomy.tiers)
    if before not in order or after not in order:
        return False
    return order.index(after) > order.index(before)


def review_ticket(
    session: Session,
    *,
    ticket: Ticket,
    request: ReviewRequest,
    taxonomy: Taxonomy,
    actor: str,
    now: datetime,
    repeat_window: timedelta,
    head_tiers: Collection[str],
    if_match: str | None = None,
) -> TicketEvent:
    """Apply a review and record it; everything is written in one transaction (or nothing).

    `head_tiers`: the policy's `head_at_intake`; a ticket the review gives one of them is escalated
    to the department head in the same transaction, once per ticket.

    A closed ticket is final (its SLA figures are counted): 409 until it is reopened.
    """
    if ticket.status == "closed":
        raise Conflict(
            "the ticket is closed (已闭环): reopen it before reviewing its labels",
            loc=["path", "ticket_no"],
            type="ticket_closed",
        )
    labels = target_labels(ticket, request, taxonomy)
    downgrade = is_downgrade(ticket.tier, labels.tier, taxonomy)
    comment = mask_optional(request.comment)
    if downgrade and comment is None:
        raise InvalidInput(
            f"lowering the tier from {ticket.tier} to {labels.tier} needs a comment saying why",
            loc=["body", "comment"],
            type="comment_required",
        )
    before = _snapshot(ticket)
    if labels.tier != ticket.tier:
        due = sla_due(ticket.received_at, taxonomy.tiers[labels.tier])
        ticket.first_response_due = due.first_response_due
        ticket.resolution_due = due.resolution_due
    if labels.category != ticket.category:
        repeat = find_repeat(
            session,
            customer_id=ticket.customer_id,
            category=labels.category,
            received_at=ticket.received_at,
            window=repeat_window,
            before_id=ticket.id,
        )
        ticket.repeat_of_id = repeat.id if repeat is not None else None
    ticket.category = labels.category
    ticket.subtype = labels.subtype
    ticket.tier = labels.tier
    ticket.demand = labels.demand
    if labels.subtype in taxonomy.subtypes and taxonomy.department_of(labels.subtype) != ticket.department:
        ticket.department = taxonomy.department_of(labels.subtype)
        ticket.owner = None
    ticket.final_category, ticket.final_subtype = labels.category, labels.subtype
    ticket.final_tier, ticket.final_demand = labels.tier, labels.demand
    ticket.reviewed_by = actor
    ticket.reviewed_at = now
    ticket.review_comment = comment
    ticket.updated_at = now
    event = TicketEvent(
        ticket_id=ticket.id,
        stage=REVIEWED,
        from_status=ticket.status,
        actor=actor,
        at=now,
        owner=None,
        note=comment,
        details={
            "action": request.action,
            "before": before,
            "after": _snapshot(ticket),
            "tier_downgrade": downgrade,
        },
    )
    follows = []
    if needs_head(ticket, head_tiers):
        follows.append(escalate_to_head(ticket, now=now, trigger=REVIEW, reviewed_by=actor))
    return commit_event(session, ticket, event, "the review", if_match, follows=follows)
