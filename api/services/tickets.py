"""Tickets: intake (classify, escalate, route, number, store idempotently) and look-ups."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.errors import Conflict, InvalidInput, NotFound, PreconditionFailed, quoted
from api.schemas import TicketCreate
from api.services import idempotency
from api.services.escalation import EscalationPolicy
from api.services.model_holder import LoadedModel
from api.services.numbering import PREFIX, TICKET_NO, take_number
from api.services.routing import sla_due
from api.services.scoring import Assessment, assess
from api.services.thresholds import Thresholds
from api.services.urgent_escalation import INTAKE, escalate_to_head, needs_head
from api.settings import Settings
from api.tables import IdempotencyKey, Ticket, TicketEvent
from api.validation import masked_to_fit
from model.predictor import MAX_CHARS
from model.text import mask_optional, mask_pii

log = logging.getLogger("api.tickets")

# Clients' clocks differ: an occurred_at this far ahead of the received time is still accepted.
CLOCK_SKEW = timedelta(minutes=10)


@dataclass(frozen=True)
class IntakeResult:
    """The ticket, and whether this request created it (False: an idempotent replay)."""

    ticket: Ticket
    created: bool
    assessment: Assessment | None


IF_MATCH = "If-Match"


def etag(ticket: Ticket) -> str:
    """The ticket's entity tag: its revision, which every change of the ticket raises."""
    return f'"{ticket.revision}"'


_ENTITY_TAGS = re.compile(r'\s*(?:W/)?"[!#-~]*"\s*(?:,\s*(?:W/)?"[!#-~]*"\s*)*')


def check_unchanged(ticket: Ticket, if_match: str | None) -> None:
    """412 when `If-Match` names another revision than the ticket's (nothing when it is absent or *).

    A page that shows a ticket sends the ETag it read, so that a review or event based on what
    it showed is not applied over another agent's change made meanwhile. The comparison is
    strong (RFC 9110): a weak tag (W/"3") never matches; a header that is no list of entity tags
    is a 422, not a 412 that reloading could never cure.
    """
    if if_match is None or if_match.strip() == "*":
        return
    if not _ENTITY_TAGS.fullmatch(if_match):
        raise InvalidInput(
            f'{IF_MATCH} must be "*" or entity tags such as "3" (quotes included), got {quoted(if_match)}',
            loc=["header", IF_MATCH],
        )
    tags = {tag.strip() for tag in if_match.split(",")}
    if etag(ticket) not in tags:
        raise PreconditionFailed(
            f"the ticket changed since it was read (now {etag(ticket)}, the request names {quoted(if_match)}); "
            "reload it and apply the change again",
            loc=["header", IF_MATCH],
            current=etag(ticket),
        )


def get_ticket(session: Session, ticket_no: str) -> Ticket:
    """The ticket with this number, or 404 naming it (without asking the database when the number
    does not have the shape of one: PostgreSQL refuses a NUL byte in a text parameter)."""
    if not TICKET_NO.fullmatch(ticket_no):
        raise NotFound(
            f"no ticket {quoted(ticket_no)}: ticket numbers look like {PREFIX}-YYYYMMDD-NNNNNN",
            loc=["path", "ticket_no"],
        )
    ticket = session.scalar(select(Ticket).where(Ticket.ticket_no == ticket_no))
    if ticket is None:
        raise NotFound(f"no ticket {quoted(ticket_no)}", loc=["path", "ticket_no"])
    return ticket


def history_of(session: Session, ticket: Ticket) -> list[TicketEvent]:
    """The ticket's events, oldest first."""
    return list(session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket.id).order_by(TicketEvent.id)))


def ticket_numbers(session: Session, ids: set[int]) -> dict[int, str]:
    """Ticket numbers of ticket ids (for `repeat_of`)."""
    if not ids:
        return {}
    rows = session.execute(select(Ticket.id, Ticket.ticket_no).where(Ticket.id.in_(ids)))
    return {row.id: row.ticket_no for row in rows}


def find_repeat(
    session: Session,
    *,
    customer_id: str | None,
    category: str,
    received_at: datetime,
    window: timedelta,
    before_id: int | None = None,
) -> Ticket | None:
    """The customer's latest earlier ticket of the same category that was still open when a ticket
    received at `received_at` came in, or closed less than `window` before it.

    Earlier means created before: `before_id`, the ticket asked about when it is stored already
    (ids follow the order in which tickets were received, numbered and stored); at intake, every
    stored ticket.
    """
    if customer_id is None:
        return None
    statement = select(Ticket).where(
        Ticket.customer_id == customer_id,
        Ticket.category == category,
        or_(Ticket.closed_at.is_(None), Ticket.closed_at >= received_at - window),
    )
    if before_id is not None:
        statement = statement.where(Ticket.id < before_id)
    return session.scalar(statement.order_by(Ticket.id.desc()).limit(1))


def _explanation(assessment: Assessment) -> dict[str, Any]:
    """Explanation terms with their spans in the masked text (the only text stored)."""
    return {
        head: [
            {
                "term": term.term,
                "kind": term.kind,
                "weight": term.weight,
                "spans": [[span.masked_start, span.masked_end] for span in term.spans],
            }
            for term in terms
        ]
        for head, terms in assessment.prediction.explanation.items()
    }


def _occurred_at(payload: TicketCreate, settings: Settings, now: datetime) -> datetime | None:
    value = payload.occurred_at
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=settings.zone)
    if value > now + CLOCK_SKEW:
        raise InvalidInput("occurred_at is in the future", loc=["body", "occurred_at"])
    return value


def _replay(session: Session, record: IdempotencyKey, digest: str) -> IntakeResult:
    if record.request_hash != digest:
        raise Conflict(
            f"this {idempotency.HEADER} was already used with a different request body",
            loc=["header", idempotency.HEADER],
            type="idempotency_conflict",
        )
    ticket = session.get(Ticket, record.ticket_id)
    if ticket is None:  # the ticket row and its key are written together; a missing one is a bug
        raise Conflict("the ticket of this key no longer exists", loc=["header", idempotency.HEADER])
    return IntakeResult(ticket, False, None)


def build_ticket(
    payload: TicketCreate,
    assessment: Assessment,
    *,
    loaded: LoadedModel,
    settings: Settings,
    now: datetime,
    received_by: str,
) -> Ticket:
    """A new, unnumbered ticket from a request and its assessment, received by the API client
    named `received_by` (接收人)."""
    prediction = assessment.prediction
    taxonomy = loaded.model.taxonomy
    due = sla_due(now, taxonomy.tiers[assessment.tier])
    stored_text = prediction.masked_text if len(payload.text) <= MAX_CHARS else mask_pii(payload.text)
    return Ticket(
        received_at=now,
        channel=payload.channel,
        # Identifiers are kept as sent (an order number that looks like a card number is still the
        # order's), and shown as sent to agents only (`TicketPresenter`); a name is free text.
        customer_id=payload.customer_id,
        customer_name=masked_to_fit(payload.customer_name, Ticket.customer_name, ["body", "customer_name"]),
        contact=payload.contact,
        order_id=payload.order_id,
        product=masked_to_fit(payload.product, Ticket.product, ["body", "product"]),
        occurred_at=_occurred_at(payload, settings, now),
        location=mask_optional(payload.location),
        text=stored_text,
        text_issues=list(prediction.issues),
        demand_note=mask_optional(payload.demand_note),
        received_by=received_by,
        status="received",
        owner=None,
        category=prediction.category.code,
        subtype=prediction.subtype.code,
        tier=assessment.tier,
        demand=prediction.demand.code,
        department=prediction.department.code,
        suggested_category=prediction.category.code,
        suggested_subtype=prediction.subtype.code,
        suggested_tier=prediction.tier.code,
        suggested_demand=prediction.demand.code,
        suggested_department=prediction.department.code,
        category_probability=prediction.category.probability,
        subtype_probability=prediction.subtype.probability,
        tier_probability=prediction.tier.probability,
        department_probability=prediction.department.probability,
        top_tier_probability=assessment.top_tier_probability,
        top_subtypes=[{"code": item.code, "probability": item.probability} for item in prediction.top_subtypes],
        explanation=_explanation(assessment),
        needs_review=assessment.needs_review,
        review_reasons=list(assessment.review_reasons),
        model_version=loaded.version,
        emotion_index=assessment.emotion.index,
        escalation_rule=assessment.escalation_rule,
        escalations=[firing.to_dict() for firing in assessment.escalations],
        first_response_due=due.first_response_due,
        resolution_due=due.resolution_due,
        updated_at=now,
    )


def create_ticket(
    session: Session,
    *,
    payload: TicketCreate,
    client: str,
    key: str,
    loaded: LoadedModel,
    policy: EscalationPolicy,
    thresholds: Thresholds,
    settings: Settings,
    clock: Callable[[], datetime],
) -> IntakeResult:
    """Create a ticket once per idempotency key of a client; everything is written in one transaction,
    the escalation to the department head of a ticket whose tier is one of `head_at_intake` included.

    The received time is read from `clock` when the ticket takes its number (`take_number`), not
    when the request started: numbers, received times and the order in which tickets are stored agree.
    """
    now = clock()
    ttl = timedelta(hours=settings.idempotency_ttl_hours)
    key = idempotency.stored_key(client, key)
    digest = idempotency.request_hash(payload, settings.zone)
    record = idempotency.find(session, key=key, now=now, ttl=ttl)
    if record is not None:
        return _replay(session, record, digest)
    assessment = assess(loaded.model, [payload.text], policy=policy, thresholds=thresholds, explain=True)[0]
    try:
        claimed = idempotency.claim(session, key=key, digest=digest, now=now, ttl=ttl)
        # From here until the commit no other ticket is numbered: every ticket numbered before this
        # one has committed, so the repeat look-up sees it (a customer's tickets sent at once
        # otherwise missed each other on PostgreSQL).
        ticket_no, received_at = take_number(session, clock=clock, zone=settings.zone)
        ticket = build_ticket(
            payload, assessment, loaded=loaded, settings=settings, now=received_at, received_by=client
        )
        ticket.ticket_no = ticket_no
        # stamped before the INSERT: a change after the flush would be an UPDATE raising the revision
        head = needs_head(ticket, policy.head_at_intake)
        urgent = escalate_to_head(ticket, now=received_at, trigger=INTAKE) if head else None
        repeat = find_repeat(
            session,
            customer_id=ticket.customer_id,
            category=ticket.category,
            received_at=received_at,
            window=timedelta(days=settings.repeat_window_days),
        )
        ticket.repeat_of_id = repeat.id if repeat is not None else None
        session.add(ticket)
        session.flush()
        if urgent is not None:
            urgent.ticket_id = ticket.id
            session.add(urgent)
        claimed.ticket_id = ticket.id
        session.commit()
    except IntegrityError:
        session.rollback()
        record = idempotency.find(session, key=key, now=now, ttl=ttl)
        if record is None:
            raise
        log.info("a concurrent request with the same Idempotency-Key won; replaying its ticket")
        return _replay(session, record, digest)
    except BaseException:
        session.rollback()
        raise
    return IntakeResult(ticket, True, assessment)
