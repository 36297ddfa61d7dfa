"""SLA due times: wall-clock hours from receipt, across midnight, month, year and leap-day ends."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from api.services.routing import sla_due, sla_state
from model.taxonomy import Taxonomy

from .conftest import Clock, TestClient, create_ticket

SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.mark.parametrize(
    ("received", "tier", "first_response", "resolution"),
    [
        # across midnight
        ("2026-11-23T23:30", "P1", "2026-11-24T00:30", "2026-11-24T23:30"),
        # month end (30 days) and a 72 h resolution running into the next month
        ("2026-11-30T22:00", "P3", "2026-12-01T02:00", "2026-12-03T22:00"),
        # year end
        ("2026-12-31T23:15", "P2", "2027-01-01T01:15", "2027-01-02T23:15"),
        # February of a common year and of a leap year
        ("2027-02-27T21:00", "P3", "2027-02-28T01:00", "2027-03-02T21:00"),
        ("2028-02-27T21:00", "P3", "2028-02-28T01:00", "2028-03-01T21:00"),
        ("2028-02-28T23:59", "P1", "2028-02-29T00:59", "2028-02-29T23:59"),
    ],
)
def test_due_times_in_the_business_time_zone(
    taxonomy: Taxonomy, received: str, tier: str, first_response: str, resolution: str
) -> None:
    at = datetime.fromisoformat(received).replace(tzinfo=SHANGHAI)
    due = sla_due(at, taxonomy.tiers[tier])
    assert due.first_response_due.astimezone(SHANGHAI).replace(tzinfo=None) == datetime.fromisoformat(first_response)
    assert due.resolution_due.astimezone(SHANGHAI).replace(tzinfo=None) == datetime.fromisoformat(resolution)


def test_due_times_are_elapsed_hours_whatever_the_zone_of_the_received_time(taxonomy: Taxonomy) -> None:
    at = datetime(2026, 3, 31, 23, 0, tzinfo=timezone(timedelta(hours=-5)))
    due = sla_due(at, taxonomy.tiers["P2"])
    assert due.resolution_due - at == timedelta(hours=48)
    assert due.first_response_due.astimezone(UTC) == datetime(2026, 4, 1, 6, 0, tzinfo=UTC)
    with pytest.raises(ValueError):
        sla_due(datetime(2026, 1, 1), taxonomy.tiers["P2"])


def test_sla_state() -> None:
    due = datetime(2026, 1, 1, 12, tzinfo=UTC)
    assert sla_state(due, due, due + timedelta(days=9)) == "met"
    assert sla_state(due, due + timedelta(seconds=1), due) == "breached"
    assert sla_state(due, None, due) == "pending"
    assert sla_state(due, None, due + timedelta(seconds=1)) == "breached"


def test_a_ticket_received_just_before_midnight_at_month_end(
    make_client: Callable[..., TestClient], clock: Clock
) -> None:
    clock.now = datetime(2026, 1, 31, 15, 30, tzinfo=UTC)  # 23:30 on 31 January in Shanghai
    client = make_client()
    ticket = create_ticket(client, text="外卖里吃出虫子，吃完拉肚子。")
    assert ticket["tier"]["code"] == "P1"
    assert ticket["received_at"] == "2026-01-31T23:30:00+08:00"
    assert ticket["ticket_no"].startswith("TS-20260131-")
    assert ticket["first_response_due"] == "2026-02-01T00:30:00+08:00"
    assert ticket["resolution_due"] == "2026-02-01T23:30:00+08:00"
    clock.advance(hours=1)  # 00:30 on 1 February: a new business day, a new counter
    assert create_ticket(client)["ticket_no"] == "TS-20260201-000001"


def test_ticket_numbers_follow_the_configured_time_zone(make_client: Callable[..., TestClient], clock: Clock) -> None:
    clock.now = datetime(2026, 1, 31, 15, 30, tzinfo=UTC)
    client = make_client(timezone="UTC")
    ticket = create_ticket(client)
    assert ticket["ticket_no"] == "TS-20260131-000001"
    assert ticket["received_at"] == "2026-01-31T15:30:00Z"


def test_an_unknown_time_zone_is_refused(make_client: Callable[..., TestClient]) -> None:
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Olympus'"):
        make_client(timezone="Mars/Olympus")
