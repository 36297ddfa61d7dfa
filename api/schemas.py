"""Pydantic schemas, split by direction: `*Request`/`*Create` come in, the rest go out.

Input models forbid unknown fields (a misspelt field is an error, not silently dropped) and
clean every string: control characters (but tab and line breaks) are removed and lone
surrogates replaced, so nothing a client sends can break the database encoding. Codes are
English; every code shown to users comes with its Chinese `name`.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic_core import PydanticCustomError

from model.text import clean_text, without_surrogates

SURVEY_METHOD_NAMES = {"phone": "电话回访", "online": "在线问卷", "sms": "短信", "app": "APP推送"}
ASPECT_NAMES = {
    "response_speed": "响应速度",
    "result": "处理结果",
    "attitude": "服务态度",
    "communication": "沟通清晰度",
    "other": "其他",
}

Channel = Literal["phone", "online", "email", "social", "store"]
SurveyMethod = Literal["phone", "online", "sms", "app"]
Aspect = Literal["response_speed", "result", "attitude", "communication", "other"]
Feedback = Literal["satisfied", "mostly", "not"]
TicketStatus = Literal[
    "received", "assigned", "in_progress", "customer_contacted", "escalated", "resolved", "closed", "reopened"
]

_NUMBER = re.compile(r"\s*[-+]?\d+(?:\.\d*)?\s*")


def is_blank(value: str) -> bool:
    """Nothing visible: whitespace, control and format characters (zero-width space, byte-order
    mark, direction marks) only."""
    return all(char.isspace() or unicodedata.category(char) in ("Cc", "Cf") for char in value)


def _required(value: str) -> str:
    if is_blank(value):
        raise ValueError("must not be empty or only whitespace or invisible characters")
    return value


def iso_only(value: Any) -> Any:
    """Refuse a number where a date or time is expected (pydantic would read it as a Unix time)."""
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if number or (isinstance(value, str) and _NUMBER.fullmatch(value)):
        raise ValueError("expected an ISO 8601 date or time, such as 2026-11-23 or 2026-11-23T10:00:00+08:00")
    return value


IsoDate = Annotated[date, BeforeValidator(iso_only)]
IsoTime = Annotated[datetime, BeforeValidator(iso_only)]


def _optional(value: str | None) -> str | None:
    """None for nothing visible (`is_blank`): a zero-width space is no comment, and a required
    one (a tier downgrade's, a note closing over 不满意) is then missing."""
    if value is None or is_blank(value):
        return None
    return value.strip()


# Before 1970 some zones were on local mean time, whose offsets have seconds that ISO times
# written with minutes cannot show (Asia/Shanghai: +08:05:43 until 1901); no complaint is older.
EARLIEST_YEAR, LATEST_YEAR = 1970, 2999


def plausible_time(value: datetime | None) -> datetime | None:
    """Refuse times outside 1970–2999 (before, time zones may have had offsets with seconds)."""
    if value is not None and not EARLIEST_YEAR <= value.year <= LATEST_YEAR:
        raise ValueError(f"must be a time between the years {EARLIEST_YEAR} and {LATEST_YEAR}")
    return value


def _clean_optional(value: str | None) -> str | None:
    return _optional(clean_text(value)) if value is not None else None


# The schema says minLength 1 (what `_required` checks in full, visible characters) and maxLength
# without a length check of pydantic's own, which cannot count a lone surrogate: a string holding
# one (an emoji cut in half, as a UTF-16 substring of a nickname leaves it) was refused as "not a
# valid unicode string" instead of cleaned. The length is checked once `clean_text` has run.
_NOT_EMPTY = Field(json_schema_extra={"minLength": 1})


def _at_most(limit: int) -> Any:
    """A validator refusing a string longer than `limit` characters (pydantic's `string_too_long`)."""

    def check(value: str | None) -> str | None:
        if value is not None and len(value) > limit:
            raise PydanticCustomError(
                "string_too_long", "String should have at most {max_length} characters", {"max_length": limit}
            )
        return value

    return AfterValidator(check)


def _max_length(limit: int) -> Any:
    return Field(json_schema_extra={"maxLength": limit})


Text = Annotated[str, _NOT_EMPTY, AfterValidator(clean_text), AfterValidator(_required)]
# A text that is classified, not stored, is kept as sent (the model drops control characters
# itself), so that the offsets of its explanation point into the text the client holds.
ClassifyText = Annotated[str, _NOT_EMPTY, AfterValidator(without_surrogates), AfterValidator(_required)]
Name = Annotated[
    str, _NOT_EMPTY, _max_length(100), AfterValidator(clean_text), AfterValidator(_required), _at_most(100)
]
LongText = Annotated[
    str, _NOT_EMPTY, _max_length(4000), AfterValidator(clean_text), AfterValidator(_required), _at_most(4000)
]
OptionalId = Annotated[str | None, _max_length(64), AfterValidator(_clean_optional), _at_most(64)]
OptionalName = Annotated[str | None, _max_length(100), AfterValidator(_clean_optional), _at_most(100)]
OptionalShort = Annotated[str | None, _max_length(200), AfterValidator(_clean_optional), _at_most(200)]
OptionalLine = Annotated[str | None, _max_length(500), AfterValidator(_clean_optional), _at_most(500)]
OptionalNote = Annotated[str | None, _max_length(2000), AfterValidator(_clean_optional), _at_most(2000)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---------------------------------------------------------------------------------------- in
class ClassifyRequest(_In):
    """One complaint text to classify."""

    text: ClassifyText = Field(description="The complaint, up to the configured limit (5,000 characters by default).")

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"text": "买的手机三天就无法开机，客服一直推脱，要求退款！"}]}
    )


class BatchClassifyRequest(_In):
    """Up to `max_batch_items` texts; an invalid item gets its own error, the rest are classified."""

    texts: list[Any] = Field(
        min_length=1,
        description="Complaint texts (strings); up to 1,000 by default.",
        json_schema_extra={"items": {"type": "string"}},
    )


class TicketCreate(_In):
    """A complaint as an intake channel sends it (the fields of the 客户投诉登记表)."""

    text: Text = Field(description="The complaint as the customer said or wrote it.")
    channel: Channel = Field(description="phone 电话, online 在线, email 邮件, social 社交媒体, store 门店.")
    customer_id: OptionalId = None
    customer_name: OptionalName = None
    contact: OptionalShort = Field(default=None, description="Phone or e-mail; shown only to agents.")
    order_id: OptionalId = None
    product: OptionalShort = Field(default=None, description="The product or service concerned (涉及产品/服务).")
    occurred_at: Annotated[IsoTime | None, AfterValidator(plausible_time)] = Field(
        default=None, description="When the problem happened (ISO 8601; without offset: business time zone)."
    )
    location: OptionalShort = Field(
        default=None, description="Where it happened (地点): a store, an address, a city; personal data is masked."
    )
    demand_note: OptionalLine = Field(
        default=None,
        description="The customer's demand in their own words (客户诉求, 其他（请注明）); personal data is masked. "
        "The demand code is still predicted from the complaint.",
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "text": "外卖送了两个小时，饭菜全凉了，打电话给骑手也不接，要求退款。",
                    "channel": "online",
                    "customer_id": "C10086",
                    "order_id": "WM20261123001",
                }
            ]
        },
    )


class _EventIn(_In):
    note: OptionalNote = Field(default=None, description="Free text (personal data is masked).")


class AssignedEvent(_EventIn):
    """The ticket is given to an owner (责任人)."""

    stage: Literal["assigned"]
    owner: Name


class InProgressEvent(_EventIn):
    """Work on the ticket has started."""

    stage: Literal["in_progress"]


class CustomerContactedEvent(_EventIn):
    """The customer was contacted (counts as the first response)."""

    stage: Literal["customer_contacted"]


class EscalatedEvent(_EventIn):
    """The ticket was escalated to a supervisor or another department."""

    stage: Literal["escalated"]
    owner: OptionalName = None


class ResolvedEvent(_EventIn):
    """The ticket was resolved: what was done (处理结果)."""

    stage: Literal["resolved"]
    resolution: LongText


class ClosedEvent(_EventIn):
    """The customer's answer to the solution: satisfied 满意 / mostly 基本满意 / not 不满意 (then the
    agent's note must say why the ticket is closed anyway)."""

    stage: Literal["closed"]
    feedback: Feedback
    comment: OptionalNote = None


class ReopenedEvent(_EventIn):
    """The ticket is opened again."""

    stage: Literal["reopened"]


EventCreate = Annotated[
    AssignedEvent
    | InProgressEvent
    | CustomerContactedEvent
    | EscalatedEvent
    | ResolvedEvent
    | ClosedEvent
    | ReopenedEvent,
    Field(discriminator="stage"),
]

Score = Annotated[int, Field(ge=1, le=5, strict=True)]


class SurveyCreate(_In):
    """The 满意度调查问卷: four scores from 1 (very unsatisfied) to 5 (very satisfied)."""

    timeliness: Score = Field(description="处理及时性")
    effectiveness: Score = Field(description="解决方案有效性")
    attitude: Score = Field(description="服务态度")
    overall: Score = Field(description="整体满意度")
    method: SurveyMethod | None = None
    best_aspects: list[Aspect] = Field(default_factory=list, max_length=5)
    improve_aspects: list[Aspect] = Field(default_factory=list, max_length=5)
    comment: OptionalNote = None


def _code(value: str | None) -> str | None:
    if value is None:
        return None
    stripped = clean_text(value).strip()
    if not stripped:
        raise ValueError("must not be empty: leave the field out to keep the current label")
    return stripped


Code = Annotated[str | None, _max_length(40), AfterValidator(_code), _at_most(40)]


class ReviewRequest(_In):
    """An agent's review: `accept` the labels the ticket shows, or `correct` some of them.

    A correction names at least one of category, subtype, tier, demand; the others keep their
    current value. Given only a subtype, the category is the subtype's. A tier less urgent than the
    ticket's current tier (a downgrade) needs a `comment`.
    """

    action: Literal["accept", "correct"] = Field(description="accept: confirm the labels; correct: change some.")
    category: Code = Field(default=None, description="Final category code (correct only).")
    subtype: Code = Field(default=None, description="Final subtype code (correct only); must belong to the category.")
    tier: Code = Field(default=None, description="Final tier code (correct only).")
    demand: Code = Field(default=None, description="Final demand code (correct only).")
    comment: OptionalNote = Field(default=None, description="Why; required for a tier downgrade (PII masked).")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"action": "accept"},
                {"action": "correct", "subtype": "late_delivery", "tier": "P3", "comment": "只是晚了半天"},
            ]
        },
    )


# --------------------------------------------------------------------------------------- out
class ErrorDetail(BaseModel):
    """One error: where (`loc` names the field), what, and its type; some add keys (`allowed`)."""

    model_config = ConfigDict(extra="allow")

    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    """The body of every error response."""

    detail: list[ErrorDetail]


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for error status codes."""
    meaning = {
        401: "Missing or unknown API key",
        403: "The key's role may not use this route",
        404: "Unknown ticket number",
        409: "Conflicts with the ticket's state or an earlier request",
        412: "The ticket changed since it was read (If-Match); reload it",
        413: "Request body too large",
        422: "Invalid input; `loc` names the field",
        503: "Database or model unavailable; nothing was written",
    }
    return {code: {"model": ErrorBody, "description": meaning[code]} for code in codes}


class Label(BaseModel):
    """A code and its Chinese name."""

    code: str
    name: str


class ScoredLabel(Label):
    """A predicted label with its probability."""

    probability: float


class Span(BaseModel):
    """[start, end) offsets in Unicode code points (Python string indices; in JavaScript, index
    `Array.from(text)`, not the string's UTF-16 units, which count an emoji twice)."""

    start: int
    end: int


class TextSpan(Span):
    """Offsets in the text as submitted (`start`, `end`) and in `masked_text` (`masked_*`)."""

    masked_start: int
    masked_end: int


class WeighedTerm(BaseModel):
    """A term that weighed for a predicted label.

    `kind`: "word", "char", "cue" (a group of tier cue words), "subtype" (the tier head's use
    of a subtype's probability) or "length" (the tier head's text-length bin, in characters).
    """

    term: str
    kind: str
    weight: float


class Term(WeighedTerm):
    """A term with where it occurs in the masked text (the text a ticket stores)."""

    spans: list[Span]


class ClassifyTerm(WeighedTerm):
    """A term with where it occurs in the submitted and in the masked text."""

    spans: list[TextSpan]


class EscalationOut(BaseModel):
    """An escalation rule that fired."""

    rule: str
    name: str
    tier: str
    matched: str


class SlaHours(BaseModel):
    """The SLA of a tier."""

    first_response_hours: float
    resolution_hours: float


class PredictedLabels(BaseModel):
    """The model's labels with their probabilities."""

    category: ScoredLabel
    subtype: ScoredLabel
    tier: ScoredLabel
    department: ScoredLabel
    demand: Label
    top_subtypes: list[ScoredLabel]


class ClassifyResult(PredictedLabels):
    """The model's labels with probabilities, plus the service's judgement.

    `tier` is the model's; `routed_tier` is what a ticket would get after escalation rules.
    """

    explanation: dict[str, list[ClassifyTerm]]
    judgeable: bool
    issues: list[str]
    needs_review: bool
    review_reasons: list[str]
    emotion_index: int = Field(ge=0, le=100)
    emotion_risk: bool
    escalations: list[EscalationOut]
    routed_tier: Label
    sla: SlaHours
    masked_text: str
    model_version: str


class ItemError(BaseModel):
    """Why one batch item was not classified."""

    loc: list[str | int]
    msg: str
    type: str


class BatchItem(BaseModel):
    """One batch result: `result` or `error`."""

    index: int
    result: ClassifyResult | None = None
    error: ItemError | None = None


class BatchResponse(BaseModel):
    """Results in the order of the submitted texts."""

    model_version: str
    items: list[BatchItem]


class Sla(BaseModel):
    """One SLA of a ticket: due time, when it was done, and met / breached / pending; when it
    becomes near (`warn_at`) and when it was escalated to the supervisor and to the department head."""

    due: datetime
    done_at: datetime | None
    state: str
    state_name: str
    warn_at: datetime = Field(
        description="When the deadline becomes near: the configured share of its window (received → due) is "
        "left (20 % by default). From then on, while it is not met and the ticket is open, the ticket is "
        "due soon, then overdue, and the deadline sweep escalates it to the supervisor."
    )
    escalated_at: datetime | None = Field(
        description="When the deadline sweep escalated this deadline to the supervisor (once per deadline)."
    )
    head_escalated_at: datetime | None = Field(
        default=None,
        description="When the deadline sweep escalated this deadline, passed unmet, to the department head "
        "(部门负责人; once per deadline, always after the supervisor).",
    )


class Suggestion(PredictedLabels):
    """What the model suggested at intake."""

    top_tier_probability: float = Field(
        description="The tier head's probability of the most urgent tier (P1 in the default taxonomy), "
        "whichever tier was suggested; an input of the emotion index (情绪指数)."
    )
    explanation: dict[str, list[Term]]
    model_version: str


class Review(BaseModel):
    """An agent's final labels (the last review; every review is in the history)."""

    category: Label | None
    subtype: Label | None
    tier: Label | None
    demand: Label | None
    reviewed_by: str | None
    reviewed_at: datetime | None
    comment: str | None
    action: str | None = Field(default=None, description="accept or correct (the last review).")
    tier_downgrade: bool = Field(default=False, description="The last review lowered the tier's urgency.")


class ReviewedLabels(BaseModel):
    """A ticket's effective labels, department, owner and due times before or after a review."""

    category: str
    subtype: str
    tier: str
    demand: str
    department: str
    owner: str | None = None  # reviews recorded before owners were kept show none
    first_response_due: datetime
    resolution_due: datetime


class EventOut(BaseModel):
    """One line of the tracking sheet."""

    stage: str
    stage_name: str
    from_status: str
    actor: str
    at: datetime
    owner: str | None = None
    note: str | None = None
    resolution: str | None = None
    feedback: Label | None = None
    comment: str | None = None
    deadline: Label | None = Field(
        default=None, description="Deadline escalations: first_response 首次响应 or resolution 解决."
    )
    due: datetime | None = Field(default=None, description="Deadline escalations: the deadline's due time.")
    deadline_passed: bool | None = Field(
        default=None, description="Deadline escalations: the deadline had passed when it was escalated."
    )
    level: int | None = Field(
        default=None,
        description="Escalations: 1 to the supervisor (上级主管), 2 to the department head (deadline and urgent).",
    )
    trigger: str | None = Field(
        default=None,
        description="Urgent escalations to the department head (urgent_head_escalated): intake, when the ticket "
        "was filed with an urgent tier, or review, when a review gave it one (reviewed_by names the reviewer).",
    )
    reviewed_by: str | None = Field(
        default=None, description="Urgent escalations made by a review: the agent whose review it was."
    )
    action: str | None = Field(default=None, description="Review events: accept or correct.")
    before: ReviewedLabels | None = Field(default=None, description="Review events: the labels before.")
    after: ReviewedLabels | None = Field(default=None, description="Review events: the labels after.")
    tier_downgrade: bool | None = Field(default=None, description="Review events: the tier became less urgent.")


class SurveyOut(BaseModel):
    """A recorded satisfaction survey, of one closure of its ticket."""

    ticket_no: str
    closed_at: datetime | None = Field(
        description="When the ticket was closed, the closure whose handling the survey judged "
        "(null only for a survey of an older version whose ticket has no closure on record)."
    )
    current: bool = Field(
        description="The survey of the ticket's latest closure, while it is closed: the one shown as the "
        "ticket's survey and counted in statistics, exports and the monthly report."
    )
    timeliness: int
    effectiveness: int
    attitude: int
    overall: int
    average: float
    method: Label | None
    best_aspects: list[Label]
    improve_aspects: list[Label]
    comment: str | None
    surveyed_by: str
    surveyed_at: datetime


class TicketSummary(BaseModel):
    """A ticket as list endpoints show it (no customer name or contact)."""

    ticket_no: str
    status: Label
    received_at: datetime
    channel: Label
    customer_id: str | None
    text: str = Field(description="The complaint with personal data masked.")
    category: Label
    subtype: Label
    tier: Label
    demand: Label
    department: Label
    owner: str | None
    needs_review: bool
    emotion_index: int
    emotion_risk: bool
    escalation_rule: str | None
    first_response_due: datetime
    resolution_due: datetime
    first_response: Sla
    resolution: Sla
    overdue: bool
    due_soon: bool = Field(
        description="Open, with a deadline not met that is near (past its warn_at) but not yet past due."
    )
    escalation_level: int = Field(
        description="0: not escalated; 1: a deadline of the ticket came near or passed and the ticket was "
        "escalated to the supervisor (上级主管); 2: the ticket was escalated to the department head (部门负责人): "
        "as urgent when filed or reviewed (head_escalated_at), or a deadline then passed unmet."
    )
    escalation_level_name: str = Field(description="The level's Chinese name: 未升级, 上级主管 or 部门负责人.")
    escalated_at: datetime | None = Field(description="When the ticket was first escalated to the supervisor.")
    head_escalated_at: datetime | None = Field(
        description="When the ticket was escalated to the department head as urgent (its tier one of the "
        "escalation policy's head_at_intake, P1 by default): when filed, or at a later review that left it "
        "with that tier; kept when the tier is lowered later. Not a deadline's escalation (those are in first_response "
        "and resolution)."
    )
    repeat_of: str | None
    received_by: str | None = Field(
        description="接收人: the name of the API key that created the ticket (null for tickets created "
        "before it was recorded)."
    )


class TicketPublic(TicketSummary):
    """The filled ticket (客户投诉登记表) with its suggestion, history and surveys."""

    customer_name: str | None
    order_id: str | None
    product: str | None
    occurred_at: datetime | None
    location: str | None = Field(description="地点, personal data masked.")
    demand_note: str | None = Field(description="The customer's demand in their words, personal data masked.")
    text_issues: list[str]
    review_reasons: list[str]
    escalations: list[EscalationOut]
    suggestion: Suggestion
    review: Review | None
    history: list[EventOut]
    survey: SurveyOut | None = Field(
        description="The current survey: the one of the ticket's latest closure, while it is closed."
    )
    surveys: list[SurveyOut] = Field(
        description="Every survey of the ticket, oldest first, one per closure; earlier ones judged a "
        "handling that was reopened."
    )
    survey_due: datetime | None = Field(
        description="While the ticket is closed: when the survey of this closure is due (closed_at + 48 h)."
    )
    next_stages: list[Label] = Field(
        description="The tracking stages that may be recorded next (POST /v1/tickets/{ticket_no}/events), "
        "from the ticket's status; any other is refused with 409 illegal_transition."
    )


class TicketWithContact(TicketPublic):
    """The single-ticket view for agents: with the contact as given."""

    contact: str | None


class TicketPage(BaseModel):
    """One page of tickets, newest first; pass `next_cursor` as `cursor` for the next one."""

    items: list[TicketSummary]
    next_cursor: str | None


class QueueItem(BaseModel):
    """A ticket waiting for review: the model's suggestion with its probabilities.

    `category`, `subtype` and `tier` are the suggestion; `routed_tier` is the tier the ticket is
    worked with (an escalation rule may have raised it); `confidence` is the lowest of the three
    probabilities.
    """

    ticket_no: str
    received_at: datetime
    channel: Label
    status: Label
    text: str = Field(description="The masked complaint, cut to 200 characters (… marks a cut).")
    category: ScoredLabel
    subtype: ScoredLabel
    tier: ScoredLabel
    routed_tier: Label
    demand: Label
    department: Label
    confidence: float
    review_reasons: list[str]
    escalation_rule: str | None
    emotion_index: int
    first_response_due: datetime
    resolution_due: datetime
    first_response: Sla = Field(description="The first-response deadline, as in the ticket list and view.")
    resolution: Sla = Field(description="The resolution deadline, as in the ticket list and view.")
    overdue: bool
    due_soon: bool
    escalation_level: int = Field(description="0, 1 (上级主管) or 2 (部门负责人), as in the ticket view.")
    escalation_level_name: str
    escalated_at: datetime | None = Field(description="When the ticket was first escalated to the supervisor.")
    head_escalated_at: datetime | None = Field(
        description="When the ticket was escalated to the department head as urgent, as in the ticket view."
    )


class QueuePage(BaseModel):
    """One page of the review queue, lowest confidence first, then oldest."""

    items: list[QueueItem]
    next_cursor: str | None


class Caller(BaseModel):
    """Who the API key sent is."""

    role: str = Field(description="intake, agent, analyst or admin (admin may use every route).")
    name: str = Field(description="The key's name: the actor recorded for what it changes.")
    timezone: str = Field(
        description="The business time zone (IANA name, `TRIAGE_TIMEZONE`) in which the service gives its "
        "times and counts its days: a client shows its own clock's times in it too."
    )


class ModelInfo(BaseModel):
    """The model in service."""

    version: str
    created_at: str | None
    loaded_at: datetime
    metrics: dict[str, Any]
    evaluation: dict[str, Any] = Field(
        description="What `metrics` were measured on: the held-out split and its rows, and whether the model "
        "was then refit on them too (`refit`; the metrics are then those of its twin trained on `trained_rows`)."
    )
    training_data: dict[str, Any]
    libraries: dict[str, str]
    params: dict[str, Any]
    taxonomy: dict[str, Any]
    thresholds: dict[str, Any]
    escalation: dict[str, Any]


class Health(BaseModel):
    """Liveness."""

    status: str


class Readiness(BaseModel):
    """Readiness: `ready`, or `not_ready` with the reasons."""

    status: str
    model_version: str | None
    reasons: list[str]


NotificationState = Literal["pending", "delivered", "failed"]


class NotificationPublic(BaseModel):
    """One escalation notification and its delivery (times in the business time zone)."""

    event_id: int = Field(description="The escalation event; the Idempotency-Key / X-Triage-Event-Id sent.")
    ticket_no: str
    kind: Literal["deadline_escalated", "urgent_head_escalated"]
    level: int = Field(description="1: the supervisor (上级主管), 2: the department head (部门负责人).")
    level_name: str
    recipient: str | None = Field(description="Whom the escalation file's contacts name for it (null: nobody).")
    state: NotificationState
    attempts: int = Field(description="Attempts started (a failed state: all of them failed).")
    created_at: datetime = Field(description="Written with the escalation.")
    next_attempt_at: datetime | None = Field(description="While pending: when it is tried next.")
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    last_error: str | None = Field(description="What the last failed attempt met (a status code, an error type).")


class NotificationPage(BaseModel):
    """One page of notifications, newest first; pass `next_cursor` as `cursor` for the next one."""

    items: list[NotificationPublic]
    next_cursor: str | None
    total: int = Field(
        description="How many notifications the listing holds (those in `state`, when given), all its pages "
        "together, counted when this page was read: `?state=failed&limit=1` counts the failed ones."
    )
