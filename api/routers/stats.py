"""GET /v1/stats (per week or month) and GET /v1/stats/drift (against the model's training data)."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import AnalystUser, ModelDep, NowDep, SessionDep, SettingsDep
from api.errors import InvalidInput
from api.schemas import EARLIEST_YEAR, LATEST_YEAR, IsoDate, error_responses
from api.services.drift import DriftLimits, drift_report
from api.services.stats import GroupBy, ticket_stats
from api.settings import Settings
from api.stats_schemas import DriftResponse, StatsResponse

router = APIRouter(prefix="/v1/stats", tags=["statistics"], responses=error_responses(401, 403, 422, 503))

From = Annotated[IsoDate, Query(alias="from", description="First day (YYYY-MM-DD, business time zone), inclusive.")]
To = Annotated[IsoDate, Query(alias="to", description="Last day (YYYY-MM-DD, business time zone), inclusive.")]


def _check_range(first: date, last: date, settings: Settings) -> None:
    for day, field in ((first, "from"), (last, "to")):
        if not EARLIEST_YEAR <= day.year <= LATEST_YEAR:
            raise InvalidInput(
                f"must be a day between the years {EARLIEST_YEAR} and {LATEST_YEAR}", loc=["query", field]
            )
    if first > last:
        raise InvalidInput(f"from ({first}) is after to ({last})", loc=["query", "from"])
    days = (last - first).days + 1
    if days > settings.stats_max_days:
        raise InvalidInput(
            f"the range spans {days} days; at most {settings.stats_max_days} per request", loc=["query", "to"]
        )


@router.get("", response_model=StatsResponse, summary="Ticket statistics per week or month")
def stats(
    _: AnalystUser,
    first: From,
    last: To,
    session: SessionDep,
    loaded: ModelDep,
    settings: SettingsDep,
    now: NowDep,
    group_by: Annotated[GroupBy, Query(description="week (ISO weeks) or month.")] = "month",
) -> StatsResponse:
    """Volumes, response and resolution times, SLA breaches per tier, resolution and repeat rates,
    survey means, the closure-confirmation and deadline escalation rates, live accuracy of the
    suggestions and the auto-filled share (see `api.services.stats`)."""
    _check_range(first, last, settings)
    figures = ticket_stats(
        session,
        first=first,
        last=last,
        group_by=group_by,
        taxonomy=loaded.model.taxonomy,
        zone=settings.zone,
        now=now,
    )
    return StatsResponse.model_validate(figures)


@router.get("/drift", response_model=DriftResponse, summary="Drift against the training data of the model in service")
def drift(
    _: AnalystUser, first: From, last: To, session: SessionDep, loaded: ModelDep, settings: SettingsDep
) -> DriftResponse:
    """Jensen–Shannon distance of the subtype and tier shares, and the out-of-vocabulary rate against
    the training reference; `retrain_recommended` when either moves past its limit (see `api.services.drift`)."""
    _check_range(first, last, settings)
    limits = DriftLimits(
        js_threshold=settings.drift_js_threshold,
        oov_margin=settings.drift_oov_margin,
        min_tickets=settings.drift_min_tickets,
        max_texts=settings.drift_max_texts,
    )
    report = drift_report(session, first=first, last=last, loaded=loaded, limits=limits, zone=settings.zone)
    return DriftResponse.model_validate(report)
