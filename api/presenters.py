"""Turning assessments and stored rows into response schemas (codes with their Chinese names).

Times are shown in the business time zone. Names come from the taxonomy of the model in
service; a code it does not know (a ticket from an older taxonomy) is shown as its own name.
"""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Annotated, Any

from fastapi import Depends
from sqlalchemy.orm import Session

from api.auth import Principal
from api.deps import ModelDep, NowDep, ServicesDep
from api.schemas import (
    ASPECT_NAMES,
    SURVEY_METHOD_NAMES,
    ClassifyResult,
    ClassifyTerm,
    EscalationOut,
    EventOut,
    Label,
    QueueItem,
    Review,
    ReviewedLabels,
    ScoredLabel,
    Sla,
    SlaHours,
    Span,
    Suggestion,
    SurveyOut,
    Term,
    TextSpan,
    TicketPublic,
    TicketSummary,
    TicketWithContact,
)
from api.services.deadlines import (
    DEADLINES,
    ESCALATION_LEVEL_NAMES,
    FIRST_RESPONSE,
    HEAD_LEVEL,
    RESOLUTION,
    Deadline,
    deadline_warning,
    escalated_at,
    escalation_level,
    is_due_soon,
    is_overdue,
)
from api.services.review import REVIEWED
from api.services.review_queue import confidence_of
from api.services.routing import SLA_STATES, sla_state
from api.services.scoring import Assessment
from api.services.surveys import current_closure_id, survey_due, surveys_of
from api.services.tickets import history_of, ticket_numbers
from api.services.tracking import CLOSED, EVENT_NAMES, FEEDBACK_NAMES, STATUS_NAMES, allowed_next
from api.services.urgent_escalation import URGENT_HEAD_ESCALATED
from api.tables import Survey, Ticket, TicketEvent
from model.prediction import LabelScore
from model.taxonomy import Category, Demand, Subtype, Taxonomy, Tier
from model.text import mask_optional
from training.data import CHANNEL_NAMES

QUEUE_TEXT_CHARS = 200


class Names:
    """Chinese names of codes, from a taxonomy."""

    def __init__(self, taxonomy: Taxonomy) -> None:
        self.taxonomy = taxonomy

    @staticmethod
    def _label(code: str, item: Category | Subtype | Tier | Demand | None) -> Label:
        return Label(code=code, name=item.name if item else code)

    def category(self, code: str) -> Label:
        """A category code with its name."""
        return self._label(code, self.taxonomy.categories.get(code))

    def subtype(self, code: str) -> Label:
        """A subtype code with its name."""
        return self._label(code, self.taxonomy.subtypes.get(code))

    def tier(self, code: str) -> Label:
        """A tier code with its name."""
        return self._label(code, self.taxonomy.tiers.get(code))

    def demand(self, code: str) -> Label:
        """A demand code with its name."""
        return self._label(code, self.taxonomy.demands.get(code))

    def department(self, code: str) -> Label:
        """A department code with its name."""
        return Label(code=code, name=self.taxonomy.departments.get(code, code))


def _scored(score: LabelScore) -> ScoredLabel:
    return ScoredLabel(code=score.code, name=score.name, probability=score.probability)


def _with_probability(label: Label, probability: float) -> ScoredLabel:
    """A named code with a stored probability."""
    return ScoredLabel(code=label.code, name=label.name, probability=probability)


def classify_result(assessment: Assessment, taxonomy: Taxonomy) -> ClassifyResult:
    """The response of the classify endpoints."""
    prediction = assessment.prediction
    tier = taxonomy.tiers[assessment.tier]
    return ClassifyResult(
        category=_scored(prediction.category),
        subtype=_scored(prediction.subtype),
        tier=_scored(prediction.tier),
        department=_scored(prediction.department),
        demand=Label(code=prediction.demand.code, name=prediction.demand.name),
        top_subtypes=[_scored(item) for item in prediction.top_subtypes],
        explanation={
            head: [
                ClassifyTerm(
                    term=term.term,
                    kind=term.kind,
                    weight=term.weight,
                    spans=[
                        TextSpan(
                            start=span.start,
                            end=span.end,
                            masked_start=span.masked_start,
                            masked_end=span.masked_end,
                        )
                        for span in term.spans
                    ],
                )
                for term in terms
            ]
            for head, terms in prediction.explanation.items()
        },
        judgeable=prediction.judgeable,
        issues=list(prediction.issues),
        needs_review=assessment.needs_review,
        review_reasons=list(assessment.review_reasons),
        emotion_index=assessment.emotion.index,
        emotion_risk=assessment.emotion.risk,
        escalations=[EscalationOut(**firing.to_dict()) for firing in assessment.escalations],
        routed_tier=Label(code=tier.code, name=tier.name),
        sla=SlaHours(first_response_hours=tier.first_response_hours, resolution_hours=tier.resolution_hours),
        masked_text=prediction.masked_text,
        model_version=prediction.model_version,
    )


class TicketPresenter:
    """Builds ticket views for one request (one taxonomy, one clock, one time zone)."""

    def __init__(
        self, taxonomy: Taxonomy, *, zone: tzinfo, now: datetime, risk_threshold: int, warning_share: float
    ) -> None:
        self.names = Names(taxonomy)
        self.zone = zone
        self.now = now
        self.risk_threshold = risk_threshold
        self.warning_share = warning_share

    def _local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone)

    def _maybe_local(self, moment: datetime | None) -> datetime | None:
        return moment.astimezone(self.zone) if moment is not None else None

    def _sla(self, ticket: Ticket, deadline: Deadline) -> Sla:
        """One deadline of the ticket, as every view of a ticket (list, queue, single) shows it."""
        due, done_at = deadline.due_of(ticket), deadline.done_of(ticket)
        state = sla_state(due, done_at, self.now)
        return Sla(
            due=self._local(due),
            done_at=self._maybe_local(done_at),
            state=state,
            state_name=SLA_STATES[state],
            warn_at=self._local(deadline_warning(ticket, deadline, self.warning_share)),
            escalated_at=self._maybe_local(deadline.escalated_of(ticket)),
            head_escalated_at=self._maybe_local(deadline.escalated_of(ticket, HEAD_LEVEL)),
        )

    def _deadline_fields(self, ticket: Ticket) -> dict[str, Any]:
        """The ticket's deadlines and escalation, as every view of a ticket (list, queue, single) shows them."""
        level = escalation_level(ticket)
        return {
            "first_response_due": self._local(ticket.first_response_due),
            "resolution_due": self._local(ticket.resolution_due),
            "first_response": self._sla(ticket, FIRST_RESPONSE),
            "resolution": self._sla(ticket, RESOLUTION),
            "overdue": is_overdue(ticket, self.now),
            "due_soon": is_due_soon(ticket, self.now, self.warning_share),
            "escalation_level": level,
            "escalation_level_name": ESCALATION_LEVEL_NAMES[level],
            "escalated_at": self._maybe_local(escalated_at(ticket)),
            "head_escalated_at": self._maybe_local(ticket.head_escalated_at),
        }

    def summary_fields(self, ticket: Ticket, repeat_of: str | None) -> dict[str, object]:
        """The fields shared by every ticket view."""
        names = self.names
        return {
            "ticket_no": ticket.ticket_no,
            "status": Label(code=ticket.status, name=STATUS_NAMES.get(ticket.status, ticket.status)),
            "received_at": self._local(ticket.received_at),
            "channel": Label(code=ticket.channel, name=CHANNEL_NAMES.get(ticket.channel, ticket.channel)),
            # an id may be a phone number: as sent only in an agent's view of the ticket (`full`)
            "customer_id": mask_optional(ticket.customer_id),
            "text": ticket.text,
            "category": names.category(ticket.category),
            "subtype": names.subtype(ticket.subtype),
            "tier": names.tier(ticket.tier),
            "demand": names.demand(ticket.demand),
            "department": names.department(ticket.department),
            "owner": ticket.owner,
            "needs_review": ticket.needs_review,
            "emotion_index": ticket.emotion_index,
            "emotion_risk": ticket.emotion_index > self.risk_threshold,
            "escalation_rule": ticket.escalation_rule,
            **self._deadline_fields(ticket),
            "repeat_of": repeat_of,
            "received_by": ticket.received_by,
        }

    def summary(self, ticket: Ticket, repeat_of: str | None) -> TicketSummary:
        """The list view of a ticket (no customer name, no contact)."""
        return TicketSummary.model_validate(self.summary_fields(ticket, repeat_of))

    def _suggestion(self, ticket: Ticket) -> Suggestion:
        names = self.names

        return Suggestion(
            category=_with_probability(names.category(ticket.suggested_category), ticket.category_probability),
            subtype=_with_probability(names.subtype(ticket.suggested_subtype), ticket.subtype_probability),
            tier=_with_probability(names.tier(ticket.suggested_tier), ticket.tier_probability),
            department=_with_probability(names.department(ticket.suggested_department), ticket.department_probability),
            demand=names.demand(ticket.suggested_demand),
            top_subtypes=[
                _with_probability(names.subtype(str(item["code"])), float(item["probability"]))
                for item in ticket.top_subtypes
            ],
            top_tier_probability=ticket.top_tier_probability,
            explanation={
                head: [
                    Term(
                        term=str(term["term"]),
                        kind=str(term.get("kind", "word")),  # tickets stored before kinds were kept
                        weight=float(term["weight"]),
                        spans=[Span(start=int(start), end=int(end)) for start, end in term["spans"]],
                    )
                    for term in terms
                ]
                for head, terms in ticket.explanation.items()
            },
            model_version=ticket.model_version,
        )

    def _review(self, ticket: Ticket, history: list[TicketEvent]) -> Review | None:
        if ticket.reviewed_at is None:
            return None
        names = self.names
        last = next((event for event in reversed(history) if event.stage == REVIEWED), None)
        details = last.details if last is not None else {}
        return Review(
            category=names.category(ticket.final_category) if ticket.final_category else None,
            subtype=names.subtype(ticket.final_subtype) if ticket.final_subtype else None,
            tier=names.tier(ticket.final_tier) if ticket.final_tier else None,
            demand=names.demand(ticket.final_demand) if ticket.final_demand else None,
            reviewed_by=ticket.reviewed_by,
            reviewed_at=self._maybe_local(ticket.reviewed_at),
            comment=ticket.review_comment,
            action=details.get("action"),
            tier_downgrade=bool(details.get("tier_downgrade", False)),
        )

    def _reviewed_labels(self, value: object) -> ReviewedLabels | None:
        if not isinstance(value, dict):
            return None
        labels = ReviewedLabels.model_validate(value)
        labels.first_response_due = self._local(labels.first_response_due)
        labels.resolution_due = self._local(labels.resolution_due)
        return labels

    def event(self, event: TicketEvent) -> EventOut:
        """One tracking-sheet line."""
        feedback = event.details.get("feedback")
        deadline = DEADLINES.get(str(event.details.get("deadline")))
        urgent = event.stage == URGENT_HEAD_ESCALATED
        due = event.details.get("due")
        return EventOut(
            stage=event.stage,
            stage_name=EVENT_NAMES.get(event.stage, event.stage),
            from_status=event.from_status,
            actor=event.actor,
            at=self._local(event.at),
            owner=event.owner,
            note=event.note,
            resolution=event.details.get("resolution"),
            feedback=Label(code=feedback, name=FEEDBACK_NAMES.get(feedback, feedback)) if feedback else None,
            comment=event.details.get("comment"),
            deadline=Label(code=deadline.kind, name=deadline.name) if deadline is not None else None,
            due=self._local(datetime.fromisoformat(due)) if isinstance(due, str) else None,
            deadline_passed=event.details.get("passed"),
            level=event.details.get("level") if deadline is not None or urgent else None,
            trigger=event.details.get("trigger") if urgent else None,
            reviewed_by=event.details.get("reviewed_by") if urgent else None,
            action=event.details.get("action"),
            before=self._reviewed_labels(event.details.get("before")),
            after=self._reviewed_labels(event.details.get("after")),
            tier_downgrade=event.details.get("tier_downgrade"),
        )

    def queue_item(self, ticket: Ticket) -> QueueItem:
        """A ticket of the review queue: the suggestion with its probabilities."""
        names = self.names
        text = ticket.text if len(ticket.text) <= QUEUE_TEXT_CHARS else ticket.text[: QUEUE_TEXT_CHARS - 1] + "…"
        return QueueItem(
            ticket_no=ticket.ticket_no,
            received_at=self._local(ticket.received_at),
            channel=Label(code=ticket.channel, name=CHANNEL_NAMES.get(ticket.channel, ticket.channel)),
            status=Label(code=ticket.status, name=STATUS_NAMES.get(ticket.status, ticket.status)),
            text=text,
            category=_with_probability(names.category(ticket.suggested_category), ticket.category_probability),
            subtype=_with_probability(names.subtype(ticket.suggested_subtype), ticket.subtype_probability),
            tier=_with_probability(names.tier(ticket.suggested_tier), ticket.tier_probability),
            routed_tier=names.tier(ticket.tier),
            demand=names.demand(ticket.demand),
            department=names.department(ticket.department),
            confidence=confidence_of(ticket),
            review_reasons=list(ticket.review_reasons),
            escalation_rule=ticket.escalation_rule,
            emotion_index=ticket.emotion_index,
            **self._deadline_fields(ticket),
        )

    def survey(self, survey: Survey, ticket_no: str, *, closed_at: datetime | None, current: bool) -> SurveyOut:
        """A recorded survey of the closure at `closed_at`."""
        scores = (survey.timeliness, survey.effectiveness, survey.attitude, survey.overall)
        return SurveyOut(
            ticket_no=ticket_no,
            closed_at=self._maybe_local(closed_at),
            current=current,
            timeliness=survey.timeliness,
            effectiveness=survey.effectiveness,
            attitude=survey.attitude,
            overall=survey.overall,
            average=round(sum(scores) / len(scores), 2),
            method=Label(code=survey.method, name=SURVEY_METHOD_NAMES.get(survey.method, survey.method))
            if survey.method
            else None,
            best_aspects=[Label(code=code, name=ASPECT_NAMES.get(code, code)) for code in survey.best_aspects],
            improve_aspects=[Label(code=code, name=ASPECT_NAMES.get(code, code)) for code in survey.improve_aspects],
            comment=survey.comment,
            surveyed_by=survey.surveyed_by,
            surveyed_at=self._local(survey.surveyed_at),
        )

    def full(
        self,
        ticket: Ticket,
        *,
        repeat_of: str | None,
        history: list[TicketEvent],
        surveys: list[Survey],
        with_contact: bool,
    ) -> TicketPublic:
        """The single-ticket view; the contact, and the identifiers as sent, only when `with_contact`.

        `surveys` are all of the ticket's (oldest first); the current one is the survey of the
        closure that closed it, found in `history`.
        """
        closure = current_closure_id(ticket, history)
        closed_at = {event.id: event.at for event in history if event.stage == CLOSED}
        shown = [
            self.survey(
                survey,
                ticket.ticket_no,
                closed_at=closed_at.get(survey.closed_event_id) if survey.closed_event_id is not None else None,
                current=closure is not None and survey.closed_event_id == closure,
            )
            for survey in surveys
        ]
        fields = {
            **self.summary_fields(ticket, repeat_of),
            "customer_name": ticket.customer_name,
            "order_id": ticket.order_id if with_contact else mask_optional(ticket.order_id),
            "product": ticket.product,
            "occurred_at": self._maybe_local(ticket.occurred_at),
            "location": ticket.location,
            "demand_note": ticket.demand_note,
            "text_issues": list(ticket.text_issues),
            "review_reasons": list(ticket.review_reasons),
            "escalations": [EscalationOut(**item) for item in ticket.escalations],
            "suggestion": self._suggestion(ticket),
            "review": self._review(ticket, history),
            "history": [self.event(event) for event in history],
            "survey": next((item for item in shown if item.current), None),
            "surveys": shown,
            "survey_due": self._maybe_local(survey_due(ticket)),
            "next_stages": [Label(code=stage, name=STATUS_NAMES[stage]) for stage in allowed_next(ticket.status)],
        }
        if with_contact:
            return TicketWithContact.model_validate(
                {**fields, "customer_id": ticket.customer_id, "contact": ticket.contact}
            )
        return TicketPublic.model_validate(fields)


def ticket_presenter(services: ServicesDep, loaded: ModelDep, now: NowDep) -> TicketPresenter:
    """A presenter for this request (the dependency behind `PresenterDep`)."""
    risk = services.policy.risk_threshold if services.policy is not None else 70
    return TicketPresenter(
        loaded.model.taxonomy,
        zone=services.settings.zone,
        now=now,
        risk_threshold=risk,
        warning_share=services.settings.deadline_warning_share,
    )


PresenterDep = Annotated[TicketPresenter, Depends(ticket_presenter)]


def ticket_view(session: Session, ticket: Ticket, view: TicketPresenter, principal: Principal) -> TicketPublic:
    """The single-ticket view; the contact only for agents (and admin)."""
    repeat = ticket_numbers(session, {ticket.repeat_of_id}) if ticket.repeat_of_id else {}
    return view.full(
        ticket,
        repeat_of=repeat.get(ticket.repeat_of_id) if ticket.repeat_of_id else None,
        history=history_of(session, ticket),
        surveys=surveys_of(session, ticket),
        with_contact=principal.role in ("agent", "admin"),
    )
