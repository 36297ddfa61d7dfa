"""Response schemas of the statistics routes (`GET /v1/stats`, `GET /v1/stats/drift`).

The formulas behind every figure are documented in `api.services.stats` and `api.services.drift`.
"""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field


class SlaCounts(BaseModel):
    """One SLA of one tier: tickets met, breached and pending now, and breached / (met + breached)."""

    met: int
    breached: int
    pending: int
    breach_rate: float | None


class SurveyMeans(BaseModel):
    """Surveys recorded and the mean of each 1–5 score."""

    responses: int
    timeliness: float | None
    effectiveness: float | None
    attitude: float | None
    overall: float | None


class ConfirmationCounts(BaseModel):
    """Closed tickets whose closure recorded the customer's answer, those the customer confirmed as
    solved (满意 or 基本满意), and confirmed / closed."""

    closed: int
    confirmed: int
    rate: float | None


class ClosureConfirmation(ConfirmationCounts):
    """The closure-confirmation rate (闭环确认率), overall and per department."""

    by_department: dict[str, ConfirmationCounts] = Field(description="department code → counts")


class EscalatedTickets(BaseModel):
    """Tickets, those with at least one deadline escalated to the supervisor, and escalated / tickets."""

    tickets: int
    escalated: int = Field(description="Tickets with their first-response or resolution deadline escalated.")
    rate: float | None = Field(description="escalated / tickets (null without tickets).")


class EscalatedDeadlines(BaseModel):
    """The escalations of one deadline (first response or resolution)."""

    escalated: int = Field(description="Tickets whose deadline the deadline sweep escalated to the supervisor.")
    passed: int = Field(
        description="Of them, already past their due time when the sweep escalated them: the escalation "
        "event's own `passed` (the sweep's verdict), which a review that re-tiers the ticket afterwards does not "
        "change, as the export's `<deadline>_escalated_passed`."
    )
    head_escalated: int = Field(
        description="Of them, those that then passed unmet and that the sweep escalated to the department head "
        "(部门负责人, level 2), as the export's `<deadline>_head_escalated_at`."
    )


class DeadlineEscalation(EscalatedTickets):
    """The deadline escalation rate (时限升级率), overall, per tier and per department, and the
    escalations of each deadline."""

    by_tier: dict[str, EscalatedTickets] = Field(
        description="tier code → counts (the ticket's tier now; every tier of the taxonomy, 0 included)"
    )
    by_department: dict[str, EscalatedTickets] = Field(description="department code → counts")
    first_response: EscalatedDeadlines = Field(description="首次响应: first-response deadlines escalated.")
    resolution: EscalatedDeadlines = Field(description="解决: resolution deadlines escalated.")


class StatsFigures(BaseModel):
    """The figures of a set of tickets (rates are null when there is nothing to divide by)."""

    tickets: int
    volume: dict[str, dict[str, int]] = Field(description="category, subtype, tier, department, channel → code → n")
    mean_first_response_hours: float | None
    mean_resolution_hours: float | None
    sla: dict[str, dict[str, SlaCounts]] = Field(description="first_response / resolution → tier → counts")
    resolution_rate: float | None
    repeat_rate: float | None
    survey: SurveyMeans
    closure_confirmation: ClosureConfirmation
    deadline_escalation: DeadlineEscalation
    reviewed: int
    live_accuracy: dict[str, float | None] = Field(
        description="head → share of reviewed tickets whose suggestion was kept"
    )
    autofilled_share: float | None


class StatsPeriod(StatsFigures):
    """One week (`2026-W48`) or month (`2026-11`), clipped to the requested range."""

    period: str
    start: date
    end: date


class StatsResponse(BaseModel):
    """Statistics per period and over the whole range."""

    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    group_by: str
    periods: list[StatsPeriod]
    total: StatsFigures


class DriftHead(BaseModel):
    """The class shares of one head in the range and in the training data, and their distance."""

    js_distance: float | None
    period: dict[str, float]
    training: dict[str, float] | None
    drifted: bool | None


class VocabularyDrift(BaseModel):
    """The out-of-vocabulary rate of the range's texts against the one measured at training."""

    rate: float | None
    reference: float | None
    margin: float
    texts: int
    drifted: bool | None


class DriftResponse(BaseModel):
    """Drift signals of a range against the model in service, and whether to retrain."""

    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    tickets: int
    model_version: str
    heads: dict[str, DriftHead]
    out_of_vocabulary: VocabularyDrift
    js_threshold: float
    min_tickets: int
    enough_tickets: bool
    retrain_recommended: bool
    reasons: list[str]
