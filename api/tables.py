"""The database tables (SQLAlchemy 2 typed models): tickets, events, surveys, idempotency keys, and
the outbox of escalation notifications.

Tickets keep the model's suggestion (`suggested_*`, probabilities, `needs_review`,
`model_version`) next to the reviewer's final labels (`final_*`, nullable until reviewed) and the
effective labels the ticket is worked with (`category`, `subtype`, `tier`, `demand`,
`department`: the suggestion, its tier raised by an escalation rule, replaced by the review).
Every time is stored in UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as UTC; SQLite's naive values come back as UTC-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


OPEN_TICKETS = text("status != 'closed'")
"""The predicate of the partial index `ix_tickets_open`: the ticket is not closed."""

Json = JSON().with_variant(JSONB(), "postgresql")
Id = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    """Declarative base with a constraint naming convention (stable names for migrations)."""

    metadata = MetaData(naming_convention=NAMING)


class Ticket(Base):
    """A complaint ticket: the filled 客户投诉登记表 plus its routing and tracking state."""

    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    ticket_no: Mapped[str] = mapped_column(String(24), unique=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    channel: Mapped[str] = mapped_column(String(16))
    customer_id: Mapped[str | None] = mapped_column(String(64))
    customer_name: Mapped[str | None] = mapped_column(String(100))
    contact: Mapped[str | None] = mapped_column(String(200))
    order_id: Mapped[str | None] = mapped_column(String(64))
    product: Mapped[str | None] = mapped_column(String(200))
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    location: Mapped[str | None] = mapped_column(Text)  # 地点, PII masked (Text: masking may lengthen it)
    text: Mapped[str] = mapped_column(Text)  # PII masked
    demand_note: Mapped[str | None] = mapped_column(Text)  # 客户诉求 in the customer's words, PII masked
    text_issues: Mapped[list[str]] = mapped_column(Json)

    # 接收人: the name of the intake API key that created the ticket (null before revision 0002)
    received_by: Mapped[str | None] = mapped_column(String(100))

    status: Mapped[str] = mapped_column(String(24))
    owner: Mapped[str | None] = mapped_column(String(100))
    revision: Mapped[int] = mapped_column(Integer)  # optimistic lock: concurrent events → 409

    # effective labels: what the ticket is routed and worked with
    category: Mapped[str] = mapped_column(String(40))
    subtype: Mapped[str] = mapped_column(String(40))
    tier: Mapped[str] = mapped_column(String(16))
    demand: Mapped[str] = mapped_column(String(40))
    department: Mapped[str] = mapped_column(String(40))

    # the model's suggestion
    suggested_category: Mapped[str] = mapped_column(String(40))
    suggested_subtype: Mapped[str] = mapped_column(String(40))
    suggested_tier: Mapped[str] = mapped_column(String(16))
    suggested_demand: Mapped[str] = mapped_column(String(40))
    suggested_department: Mapped[str] = mapped_column(String(40))
    category_probability: Mapped[float] = mapped_column(Float)
    subtype_probability: Mapped[float] = mapped_column(Float)
    tier_probability: Mapped[float] = mapped_column(Float)
    department_probability: Mapped[float] = mapped_column(Float)
    top_tier_probability: Mapped[float] = mapped_column(Float)  # P(P1), an input of the emotion index
    top_subtypes: Mapped[list[dict[str, Any]]] = mapped_column(Json)
    explanation: Mapped[dict[str, Any]] = mapped_column(Json)
    needs_review: Mapped[bool] = mapped_column(Boolean)
    review_reasons: Mapped[list[str]] = mapped_column(Json)
    model_version: Mapped[str] = mapped_column(String(64))

    # escalation and emotion
    emotion_index: Mapped[int] = mapped_column(SmallInteger)
    escalation_rule: Mapped[str | None] = mapped_column(String(64))  # the first fired rule of the ticket's tier
    escalations: Mapped[list[dict[str, Any]]] = mapped_column(Json)

    # SLA
    first_response_due: Mapped[datetime] = mapped_column(UTCDateTime)
    resolution_due: Mapped[datetime] = mapped_column(UTCDateTime)
    first_responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # when the deadline sweep escalated each deadline to the supervisor (null: not escalated; at
    # most once per deadline, see api.services.deadline_escalation)
    first_response_escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # whether that deadline had already passed when it was escalated (the sweep's verdict, written
    # with the time; null while not escalated; a later re-tier moves the due time, not this)
    first_response_escalated_passed: Mapped[bool | None] = mapped_column(Boolean)
    resolution_escalated_passed: Mapped[bool | None] = mapped_column(Boolean)
    # when the sweep escalated that deadline, overdue and unmet after the supervisor's escalation,
    # to the department head (level 2; null: not; at most once per deadline, revision 0006)
    first_response_head_escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution_head_escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # when the ticket itself went to the department head because its tier is one of the policy's
    # `head_at_intake` (at intake, or at a later review that left it with that tier; null: not; at most once,
    # kept when the tier is lowered later; revision 0007, see api.services.urgent_escalation)
    head_escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    repeat_of_id: Mapped[int | None] = mapped_column(Id, ForeignKey("tickets.id"))

    # the agent's review (next issue); null until reviewed
    final_category: Mapped[str | None] = mapped_column(String(40))
    final_subtype: Mapped[str | None] = mapped_column(String(40))
    final_tier: Mapped[str | None] = mapped_column(String(16))
    final_demand: Mapped[str | None] = mapped_column(String(40))
    reviewed_by: Mapped[str | None] = mapped_column(String(100))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    review_comment: Mapped[str | None] = mapped_column(Text)

    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index(None, "received_at", "id"),
        Index(None, "status"),
        Index(None, "department"),
        Index(None, "tier"),
        Index(None, "category"),
        Index(None, "channel"),
        Index(None, "customer_id", "category"),
        Index(None, "needs_review"),
        # the open tickets (revision 0004): the deadline sweep's look-up and the backlog metrics;
        # its predicate is the literal `api.services.deadlines.open_clause` writes
        Index("ix_tickets_open", "id", sqlite_where=OPEN_TICKETS, postgresql_where=OPEN_TICKETS),
        CheckConstraint("emotion_index BETWEEN 0 AND 100", name="emotion_index_range"),
    )
    __mapper_args__ = {"version_id_col": revision}


class TicketEvent(Base):
    """One line of the 投诉处理进度跟踪表: a stage change, when, by whom, with its details."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(Id, ForeignKey("tickets.id"))
    stage: Mapped[str] = mapped_column(String(24))
    from_status: Mapped[str] = mapped_column(String(24))
    actor: Mapped[str] = mapped_column(String(100))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    owner: Mapped[str | None] = mapped_column(String(100))
    note: Mapped[str | None] = mapped_column(Text)  # PII masked
    details: Mapped[dict[str, Any]] = mapped_column(Json)  # resolution, feedback, … (PII masked)

    __table_args__ = (Index(None, "ticket_id", "id"),)


class Survey(Base):
    """The 客户满意度调查问卷 of one closure of a ticket: four 1–5 scores and free text.

    A survey judges the handling that ended in one `closed` event (`closed_event_id`, unique: one
    survey per closure); a ticket closed again after a reopen may get another. Null only for a
    survey migrated from revision 0001 whose ticket has no `closed` event (the API never made one).
    """

    __tablename__ = "surveys"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    ticket_id: Mapped[int] = mapped_column(Id, ForeignKey("tickets.id"))
    closed_event_id: Mapped[int | None] = mapped_column(Id, ForeignKey("ticket_events.id"), unique=True)
    timeliness: Mapped[int] = mapped_column(SmallInteger)
    effectiveness: Mapped[int] = mapped_column(SmallInteger)
    attitude: Mapped[int] = mapped_column(SmallInteger)
    overall: Mapped[int] = mapped_column(SmallInteger)
    method: Mapped[str | None] = mapped_column(String(16))
    best_aspects: Mapped[list[str]] = mapped_column(Json)
    improve_aspects: Mapped[list[str]] = mapped_column(Json)
    comment: Mapped[str | None] = mapped_column(Text)  # PII masked
    surveyed_by: Mapped[str] = mapped_column(String(100))
    surveyed_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        Index(None, "ticket_id"),
        *(
            CheckConstraint(f"{score} BETWEEN 1 AND 5", name=f"{score}_range")
            for score in ("timeliness", "effectiveness", "attitude", "overall")
        ),
    )


class IdempotencyKey(Base):
    """An `Idempotency-Key` of `POST /v1/tickets`: the request's hash and the ticket it made."""

    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    ticket_id: Mapped[int | None] = mapped_column(Id, ForeignKey("tickets.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (Index(None, "created_at"),)


class TicketCounter(Base):
    """The last ticket number used on a business day (`TS-YYYYMMDD-NNNNNN`), bumped atomically."""

    __tablename__ = "ticket_counters"

    day: Mapped[str] = mapped_column(String(8), primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer)


NOTIFICATION_STATES = ("pending", "delivered", "failed")


class Notification(Base):
    """The outbox row of one escalation event to tell the team's gateway about (revision 0008).

    Written in the transaction of its event (`api.services.outbox`), delivered by the dispatcher
    (`api.notifier`): `pending` until a POST is answered 2xx (`delivered`) or the attempts run out
    (`failed`). While pending, `next_attempt_at` is when it may be tried next; a dispatcher claims a
    row by moving it past the attempt's lease. `last_error` says what went wrong in a few words (a
    status code or an error type, never a response body).
    """

    __tablename__ = "notifications"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    event_id: Mapped[int] = mapped_column(Id, ForeignKey("ticket_events.id"), unique=True)
    state: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(200))

    event: Mapped[TicketEvent] = relationship()

    __table_args__ = (
        Index(None, "state", "next_attempt_at"),
        CheckConstraint("state IN ('pending', 'delivered', 'failed')", name="state_known"),
    )
