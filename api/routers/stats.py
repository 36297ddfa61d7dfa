"""GET /v1/stats (per week or month) and GET /v1/stats/drift (against the model's training data)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
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

From = Annotated[
    IsoDate | None,
    Query(
        alias="from",
        description="First day (YYYY-MM-DD, business time zone), inclusive; by default the first day of the "
        "8th ISO week (by week; the drift too) or of the 6th month (by month) counting back from `to`'s.",
    ),
]
To = Annotated[
    IsoDate | None,
    Query(alias="to", description="Last day (YYYY-MM-DD, business time zone), inclusive; by default today."),
]

# Without `from`, the range holds this many periods, the last one `to`'s (today's: so far).
DEFAULT_WEEKS = 8
DEFAULT_MONTHS = 6


def _range(
    first: date | None, last: date | None, group_by: GroupBy, settings: Settings, now: datetime
) -> tuple[date, date]:
    """The days asked for, checked: `to` by default today in the business time zone (which the
    caller's calendar may not be), `from` by default the start of the `DEFAULT_WEEKS`th ISO week or
    `DEFAULT_MONTHS`th month counting back from `to`'s, so that a bare request reads the latest
    periods, the current one so far (cut to `TRIAGE_STATS_MAX_DAYS` days)."""
    today = now.astimezone(settings.zone).date()
    for day, field in ((first, "from"), (last, "to")):
        if day is not None and not EARLIEST_YEAR <= day.year <= LATEST_YEAR:
            raise InvalidInput(
                f"must be a day between the years {EARLIEST_YEAR} and {LATEST_YEAR}", loc=["query", field]
            )
    if first is not None and last is None and first > today:
        message = f"from ({first}) is after today ({today}), where the range ends without to"
        raise InvalidInput(message, loc=["query", "from"])
    last = last or today
    if first is None:
        if group_by == "week":
            first = last - timedelta(days=last.weekday() + 7 * (DEFAULT_WEEKS - 1))
        else:
            months = last.year * 12 + last.month - 1 - (DEFAULT_MONTHS - 1)
            first = date(months // 12, months % 12 + 1, 1)
        # no longer than a request may ask for (TRIAGE_STATS_MAX_DAYS), nor before the earliest day
        # a range may name: the first period then partial
        first = max(first, last - timedelta(days=settings.stats_max_days - 1), date(EARLIEST_YEAR, 1, 1))
    _check_range(first, last, settings)
    return first, last


def _check_range(first: date, last: date, settings: Settings) -> None:
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
    session: SessionDep,
    loaded: ModelDep,
    settings: SettingsDep,
    now: NowDep,
    first: From = None,
    last: To = None,
    group_by: Annotated[GroupBy, Query(description="week (ISO weeks) or month.")] = "month",
) -> StatsResponse:
    """Volumes, response and resolution times, SLA breaches per tier, resolution and repeat rates,
    survey means, the closure-confirmation and deadline escalation rates, live accuracy of the
    suggestions and the auto-filled share (see `api.services.stats`). Without `from` and `to`: the
    last 8 ISO weeks or 6 months, the current one so far (the answer's `from` and `to` say which days)."""
    first, last = _range(first, last, group_by, settings, now)
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
    _: AnalystUser,
    session: SessionDep,
    loaded: ModelDep,
    settings: SettingsDep,
    now: NowDep,
    first: From = None,
    last: To = None,
) -> DriftResponse:
    """Jensen–Shannon distance of the subtype and tier shares, and the out-of-vocabulary rate against
    the training reference; `retrain_recommended` when either moves past its limit (see `api.services.drift`).
    Without `from` and `to`: the last 8 ISO weeks, this one so far."""
    first, last = _range(first, last, "week", settings, now)
    limits = DriftLimits(
        js_threshold=settings.drift_js_threshold,
        oov_margin=settings.drift_oov_margin,
        min_tickets=settings.drift_min_tickets,
        max_texts=settings.drift_max_texts,
    )
    report = drift_report(session, first=first, last=last, loaded=loaded, limits=limits, zone=settings.zone)
    return DriftResponse.model_validate(report)
