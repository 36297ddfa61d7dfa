"""Routing deadlines: the SLA due times of a tier, and whether each SLA was met.

Due times are wall-clock hours from the received time (the taxonomy's "hours from receipt"):
they are computed on aware datetimes, so midnight, month and year ends, and leap days need no
special case, and they are shown in the business time zone of the service.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from model.taxonomy import Tier

SLA_STATES = {"met": "达标", "breached": "超时", "pending": "进行中"}


@dataclass(frozen=True)
class SlaDue:
    """When the first response and the resolution are due."""

    first_response_due: datetime
    resolution_due: datetime


def sla_due(received_at: datetime, tier: Tier) -> SlaDue:
    """Due times of a ticket received at `received_at` (aware) with SLA tier `tier`."""
    if received_at.tzinfo is None:
        raise ValueError("received_at must be timezone-aware")
    return SlaDue(
        first_response_due=received_at + timedelta(hours=tier.first_response_hours),
        resolution_due=received_at + timedelta(hours=tier.resolution_hours),
    )


def sla_state(due: datetime, done_at: datetime | None, now: datetime) -> str:
    """`met` (done by the due time), `breached` (done late, or not done and past due) or `pending`."""
    if done_at is not None:
        return "met" if done_at <= due else "breached"
    return "breached" if now > due else "pending"
