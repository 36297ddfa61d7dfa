"""Deadline escalation: a ticket whose first-response or resolution deadline is near (20 % of its
window left by default) or passed is escalated to the supervisor once per deadline, and one whose
deadline then passes unmet to the department head once per deadline, by the service's own sweep
or by `triage sweep`, and shows it (fields, filters, history, metrics).

The app's clock is the test's `Clock` (2026-11-23 10:00 in Shanghai); a complaint like
`COMPLAINT` is P2: first response due at 12:00 (near from 11:36), resolution 48 h later (near
from 00:24 on the 25th).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select, text
from typer.testing import CliRunner

from api.cli import app as cli
from api.db import Database
from api.services.deadline_escalation import (
    Escalation,
    escalate,
    sweep_deadlines,
)
from api.services.deadlines import FIRST_RESPONSE, HEAD_LEVEL, RESOLUTION, warning_time
from api.settings import Settings
from api.tables import Ticket, TicketEvent
from model.taxonomy import Taxonomy

from .conftest import Clock, TestClient, create_ticket, headers, read_ticket

SHARE = 0.2
runner = CliRunner()


def listed(client: TestClient, query: str) -> list[str]:
    response = client.get(f"/v1/tickets?{query}", headers=headers("agent"))
    assert response.status_code == 200, response.text
    return [item["ticket_no"] for item in response.json()["items"]]


def sweep(client: TestClient, clock: Clock, share: float = SHARE) -> list[Escalation]:
    """One sweep on the app's database at the app's clock."""
    database = client.app.state.services.database  # type: ignore[attr-defined]
    with database.session() as session:
        result: list[Escalation] = sweep_deadlines(session, now=clock.now, share=share)
    return result


def post_event(client: TestClient, ticket_no: str, **event: Any) -> dict[str, Any]:
    response = client.post(f"/v1/tickets/{ticket_no}/events", json=event, headers=headers("agent"))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def escalations(ticket: dict[str, Any]) -> list[dict[str, Any]]:
    """The ticket's escalations to the supervisor (level 1)."""
    return [event for event in ticket["history"] if event["stage"] == "deadline_escalated"]


def head_escalations(ticket: dict[str, Any]) -> list[dict[str, Any]]:
    """The ticket's escalations to the department head (level 2)."""
    return [event for event in ticket["history"] if event["stage"] == "deadline_head_escalated"]


def levels(done: list[Escalation]) -> list[tuple[str, str, int]]:
    """(ticket, deadline, level) of what a sweep escalated, in its order."""
    return [(item.ticket_no, item.deadline, item.level) for item in done]


def test_the_warning_time_leaves_the_configured_share_of_each_window(taxonomy: Taxonomy) -> None:
    received = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    lead = {  # tier → minutes before the first response and the resolution are due (docs/escalation.md)
        "P1": (12, 4 * 60 + 48),
        "P2": (24, 9 * 60 + 36),
        "P3": (48, 14 * 60 + 24),
    }
    for code, (first, resolution) in lead.items():
        tier = taxonomy.tiers[code]
        for hours, minutes in ((tier.first_response_hours, first), (tier.resolution_hours, resolution)):
            due = received + timedelta(hours=hours)
            assert due - warning_time(received, due, SHARE) == timedelta(minutes=minutes)
    due = received + timedelta(hours=2)
    assert warning_time(received, due, 0.0) == due  # share 0: only once the deadline has passed


def test_a_near_deadline_is_escalated_once_and_shown_on_the_ticket(store_client: TestClient, clock: Clock) -> None:
    ticket = create_ticket(store_client)
    number = ticket["ticket_no"]
    etag = store_client.get(f"/v1/tickets/{number}", headers=headers("agent")).headers["ETag"]
    assert ticket["tier"]["code"] == "P2"
    assert ticket["first_response"]["warn_at"] == "2026-11-23T11:36:00+08:00"
    assert ticket["resolution"]["warn_at"] == "2026-11-25T00:24:00+08:00"
    assert (ticket["due_soon"], ticket["escalation_level"], ticket["escalated_at"]) == (False, 0, None)

    clock.advance(minutes=95)  # 25 minutes left: not near yet
    assert sweep(store_client, clock) == []
    assert read_ticket(store_client, number)["due_soon"] is False and listed(store_client, "due_soon=true") == []

    clock.advance(minutes=2)  # 23 minutes left of 120: near
    shown = read_ticket(store_client, number)
    assert shown["due_soon"] is True and shown["overdue"] is False and shown["escalation_level"] == 0
    assert listed(store_client, "due_soon=true") == [number] and listed(store_client, "escalated=true") == []
    done = sweep(store_client, clock)
    assert [(item.ticket_no, item.deadline, item.tier, item.passed) for item in done] == [
        (number, "first_response", "P2", False)
    ]
    assert sweep(store_client, clock) == []  # once per deadline, not on every sweep
    escalated = read_ticket(store_client, number)
    assert escalated["escalation_level"] == 1 and escalated["escalated_at"] == "2026-11-23T11:37:00+08:00"
    assert escalated["first_response"]["escalated_at"] == "2026-11-23T11:37:00+08:00"
    assert escalated["resolution"]["escalated_at"] is None
    assert escalated["status"]["code"] == "received" and escalated["owner"] is None  # the status stays
    (event,) = escalations(escalated)
    assert event["stage_name"] == "时限升级至主管" and event["actor"] == "deadline-sweep"
    assert event["from_status"] == "received" and event["at"] == "2026-11-23T11:37:00+08:00"
    assert event["deadline"] == {"code": "first_response", "name": "首次响应"}
    assert event["due"] == "2026-11-23T12:00:00+08:00" and event["deadline_passed"] is False
    # its history changed, so did its ETag: a page based on the old one is told to reload
    assert store_client.get(f"/v1/tickets/{number}", headers=headers("agent")).headers["ETag"] != etag
    assert listed(store_client, "escalated=true") == [number] and listed(store_client, "escalated=false") == []
    assert listed(store_client, "escalated=true&due_soon=true") == [number]

    assert listed(store_client, "head_escalated=true") == [] and listed(store_client, "head_escalated=false") == [
        number
    ]

    clock.advance(minutes=30)  # the first response is overdue now: not again to the supervisor, to the head once
    assert levels(sweep(store_client, clock)) == [(number, "first_response", HEAD_LEVEL)]
    assert sweep(store_client, clock) == []
    overdue = read_ticket(store_client, number)
    assert (overdue["overdue"], overdue["due_soon"]) == (True, False)
    assert listed(store_client, "due_soon=true") == [] and listed(store_client, "due_soon=false") == [number]
    assert overdue["escalation_level"] == 2 and overdue["escalated_at"] == "2026-11-23T11:37:00+08:00"
    assert len(escalations(overdue)) == 1 and overdue["status"]["code"] == "received" and overdue["owner"] is None
    (head,) = head_escalations(overdue)
    assert head["stage_name"] == "时限超时升级至部门负责人" and head["actor"] == "deadline-sweep"
    assert (head["at"], head["due"], head["deadline_passed"]) == (
        "2026-11-23T12:07:00+08:00",
        "2026-11-23T12:00:00+08:00",
        True,
    )
    assert head["deadline"] == {"code": "first_response", "name": "首次响应"}
    assert [event["stage"] for event in overdue["history"]] == ["deadline_escalated", "deadline_head_escalated"]
    assert listed(store_client, "head_escalated=true") == [number] and listed(store_client, "escalated=true") == [
        number
    ]

    post_event(store_client, number, stage="customer_contacted")
    clock.now = datetime(2026, 11, 24, 16, 25, tzinfo=UTC)  # 00:25 on the 25th: the resolution is near
    assert listed(store_client, "due_soon=true") == [number]
    assert [(item.deadline, item.passed, item.level) for item in sweep(store_client, clock)] == [
        ("resolution", False, 1)
    ]
    final = read_ticket(store_client, number)
    assert [event["deadline"]["code"] for event in escalations(final)] == ["first_response", "resolution"]
    assert escalations(final)[1]["from_status"] == "customer_contacted"
    assert final["escalated_at"] == "2026-11-23T11:37:00+08:00"  # the first escalation
    assert final["resolution"]["escalated_at"] == "2026-11-25T00:25:00+08:00"


def test_met_deadlines_and_closed_tickets_are_not_escalated(store_client: TestClient, clock: Clock) -> None:
    answered = create_ticket(store_client)["ticket_no"]
    closed = create_ticket(store_client, customer_id="C-2002")["ticket_no"]
    clock.advance(minutes=30)
    post_event(store_client, answered, stage="customer_contacted")
    post_event(store_client, closed, stage="resolved", resolution="已上门维修")
    post_event(store_client, closed, stage="closed", feedback="satisfied")
    clock.advance(hours=10)  # both first responses are past due, but were met in time
    assert sweep(store_client, clock) == []
    clock.advance(days=5)  # both resolutions are past due: the closed ticket's does not count
    done = sweep(store_client, clock)
    # found passed: to the supervisor, then to the head, in one sweep
    assert [(item.ticket_no, item.deadline, item.passed, item.level) for item in done] == [
        (answered, "resolution", True, 1),
        (answered, "resolution", True, 2),
    ]
    assert escalations(read_ticket(store_client, closed)) == head_escalations(read_ticket(store_client, closed)) == []
    assert listed(store_client, "escalated=false") == [closed]
    assert listed(store_client, "head_escalated=false") == [closed]

    # reopened after its resolution deadline, the closed ticket is overdue and escalated to both levels
    post_event(store_client, closed, stage="reopened", note="又坏了")
    assert levels(sweep(store_client, clock)) == [(closed, "resolution", 1), (closed, "resolution", 2)]
    reopened = read_ticket(store_client, closed)
    assert escalations(reopened)[0]["from_status"] == head_escalations(reopened)[0]["from_status"] == "reopened"
    # resolved, closed and reopened again: the stamps stay, neither level is escalated again
    post_event(store_client, closed, stage="resolved", resolution="已更换")
    post_event(store_client, closed, stage="closed", feedback="mostly")
    post_event(store_client, closed, stage="reopened", note="还是坏了")
    assert sweep(store_client, clock) == []
    again = read_ticket(store_client, closed)
    assert (len(escalations(again)), len(head_escalations(again)), again["escalation_level"]) == (1, 1, 2)


def test_a_review_that_changes_the_tier_moves_the_warning_but_does_not_escalate_twice(
    store_client: TestClient, clock: Clock
) -> None:
    number = create_ticket(store_client)["ticket_no"]  # P2: first response near at 11:36
    clock.advance(minutes=50)
    assert sweep(store_client, clock) == []
    corrected = store_client.post(
        f"/v1/tickets/{number}/review", json={"action": "correct", "tier": "P1"}, headers=headers("agent")
    ).json()
    assert corrected["first_response"]["warn_at"] == "2026-11-23T10:48:00+08:00"  # P1: 1 h, 12 min before
    assert corrected["overdue"] is False and corrected["due_soon"] is True
    assert [(item.deadline, item.tier) for item in sweep(store_client, clock)] == [("first_response", "P1")]
    clock.advance(minutes=30)  # past the P1 due time: to the head, not to the supervisor again
    assert [(item.deadline, item.tier, item.level) for item in sweep(store_client, clock)] == [
        ("first_response", "P1", HEAD_LEVEL)
    ]
    assert sweep(store_client, clock) == []
    shown = read_ticket(store_client, number)
    assert (len(escalations(shown)), len(head_escalations(shown))) == (1, 1)


def test_a_review_that_moves_the_due_time_later_before_the_sweep_keeps_the_deadline_from_the_head(
    store_client: TestClient, clock: Clock
) -> None:
    number = create_ticket(store_client)["ticket_no"]  # P2: first response near at 11:36, due at 12:00
    clock.advance(minutes=97)
    assert levels(sweep(store_client, clock)) == [(number, "first_response", 1)]
    clock.advance(minutes=23)  # 12:00: due, not yet past
    assert sweep(store_client, clock) == []
    review = {"action": "correct", "tier": "P3", "comment": "客户只要求上门维修"}
    downgraded = store_client.post(f"/v1/tickets/{number}/review", json=review, headers=headers("agent")).json()
    assert downgraded["first_response_due"] == "2026-11-23T14:00:00+08:00" and downgraded["overdue"] is False
    clock.advance(minutes=30)  # 12:30: past the P2 due time the ticket had, not the P3 one it has
    assert sweep(store_client, clock) == []
    assert head_escalations(read_ticket(store_client, number)) == []
    assert read_ticket(store_client, number)["escalation_level"] == 1
    clock.advance(hours=2)  # 14:30: past the P3 due time, still unmet
    assert levels(sweep(store_client, clock)) == [(number, "first_response", HEAD_LEVEL)]
    (head,) = head_escalations(read_ticket(store_client, number))
    assert head["due"] == "2026-11-23T14:00:00+08:00"


def test_the_escalation_keeps_the_sweeps_verdict_when_a_review_moves_the_due_time_across_it(
    store_client: TestClient, clock: Clock
) -> None:
    late = create_ticket(store_client)["ticket_no"]  # P2 at 10:00: first response due at 12:00
    clock.advance(minutes=150)  # 12:30
    near = create_ticket(store_client, customer_id="C-2002")["ticket_no"]  # P2: due at 14:30, near from 14:06
    assert [(item.ticket_no, item.passed, item.level) for item in sweep(store_client, clock)] == [
        (late, True, 1),
        (late, True, 2),
    ]
    review = {"action": "correct", "tier": "P3", "comment": "客户只要求上门维修"}
    downgraded = store_client.post(f"/v1/tickets/{late}/review", json=review, headers=headers("agent")).json()
    assert downgraded["first_response_due"] == "2026-11-23T14:00:00+08:00"  # P3: 4 h, after the escalation
    clock.advance(minutes=100)  # 14:10
    assert [(item.ticket_no, item.passed) for item in sweep(store_client, clock)] == [(near, False)]
    review = {"action": "correct", "tier": "P1"}
    raised = store_client.post(f"/v1/tickets/{near}/review", json=review, headers=headers("agent")).json()
    assert raised["first_response_due"] == "2026-11-23T13:30:00+08:00"  # P1: 1 h, before the escalation
    # each event keeps the due time it was escalated against and the verdict of that moment
    (passed,) = escalations(read_ticket(store_client, late))
    assert (passed["at"], passed["due"], passed["deadline_passed"]) == (
        "2026-11-23T12:30:00+08:00",
        "2026-11-23T12:00:00+08:00",
        True,
    )
    (warned,) = escalations(read_ticket(store_client, near))
    assert (warned["at"], warned["due"], warned["deadline_passed"]) == (
        "2026-11-23T14:10:00+08:00",
        "2026-11-23T14:30:00+08:00",
        False,
    )
    # neither is escalated to the supervisor again; `near`, re-tiered past its due time, goes to the head
    assert levels(sweep(store_client, clock)) == [(near, "first_response", HEAD_LEVEL)]
    # what statistics and exports count as passed: the verdicts stamped with the escalation times
    database: Database = store_client.app.state.services.database  # type: ignore[attr-defined]
    verdicts = select(Ticket.ticket_no, *(deadline.passed for deadline in (FIRST_RESPONSE, RESOLUTION)))
    with database.session() as session:
        assert {number: (first, resolution) for number, first, resolution in session.execute(verdicts)} == {
            late: (True, None),
            near: (False, None),
        }


def test_a_sweep_asked_to_stop_returns_before_its_next_claim_and_the_next_one_carries_on(
    store_client: TestClient, clock: Clock
) -> None:
    numbers = [create_ticket(store_client, key=f"stop-{index}")["ticket_no"] for index in range(3)]
    clock.advance(hours=3)  # every first response is overdue
    database: Database = store_client.app.state.services.database  # type: ignore[attr-defined]
    asked = 0

    def stop_after_two_questions() -> bool:
        nonlocal asked
        asked += 1
        return asked > 2  # the loop's question, then the first claim's: one claim made

    with database.session() as session:
        first = sweep_deadlines(session, now=clock.now, share=SHARE, stopping=stop_after_two_questions)
    assert levels(first) == [(numbers[0], "first_response", 1)]  # its escalation to the head not claimed yet
    rest = sweep(store_client, clock)
    assert levels(rest) == [
        (numbers[0], "first_response", 2),
        *((number, "first_response", level) for number in numbers[1:] for level in (1, 2)),
    ]
    for number in numbers:
        shown = read_ticket(store_client, number)
        assert (len(escalations(shown)), len(head_escalations(shown))) == (1, 1)


def test_a_deadline_met_after_the_sweep_picked_it_is_not_escalated(store_client: TestClient, clock: Clock) -> None:
    number = create_ticket(store_client)["ticket_no"]
    clock.advance(hours=3)  # the first response is overdue: a sweep would pick it
    database: Database = store_client.app.state.services.database  # type: ignore[attr-defined]
    with database.session() as session:
        ticket_id, revision = session.execute(
            select(Ticket.id, Ticket.revision).where(Ticket.ticket_no == number)
        ).one()
    post_event(store_client, number, stage="customer_contacted")  # an agent answers meanwhile
    with database.session() as session:
        assert escalate(session, ticket_id=ticket_id, deadline=FIRST_RESPONSE, now=clock.now, share=SHARE) is None
        events = select(func.count()).select_from(TicketEvent).where(TicketEvent.ticket_id == ticket_id)
        assert session.scalar(events) == 1  # the agent's
        assert (
            session.scalar(select(Ticket.revision).where(Ticket.id == ticket_id)) == revision + 1
        )  # the agent's event
        assert escalate(session, ticket_id=ticket_id, deadline=RESOLUTION, now=clock.now, share=SHARE) is None
    assert escalations(read_ticket(store_client, number)) == []


@pytest.mark.parametrize("change", ["answered", "closed"])
def test_a_deadline_met_or_closed_after_the_sweep_picked_it_for_the_head_is_not_escalated_to_it(
    store_client: TestClient, clock: Clock, change: str
) -> None:
    number = create_ticket(store_client)["ticket_no"]
    clock.advance(minutes=100)
    assert levels(sweep(store_client, clock)) == [(number, "first_response", 1)]
    clock.advance(hours=1)  # overdue: a sweep would pick it for the head
    database: Database = store_client.app.state.services.database  # type: ignore[attr-defined]
    with database.session() as session:
        ticket_id = session.execute(select(Ticket.id).where(Ticket.ticket_no == number)).scalar_one()
    if change == "answered":
        post_event(store_client, number, stage="customer_contacted")
    else:
        post_event(store_client, number, stage="resolved", resolution="已退款")
        post_event(store_client, number, stage="closed", feedback="satisfied")
    with database.session() as session:
        revision = session.scalar(select(Ticket.revision).where(Ticket.id == ticket_id))
        for deadline in (FIRST_RESPONSE, RESOLUTION):
            claimed = escalate(
                session, ticket_id=ticket_id, deadline=deadline, now=clock.now, share=SHARE, level=HEAD_LEVEL
            )
            assert claimed is None
        assert session.scalar(select(Ticket.revision).where(Ticket.id == ticket_id)) == revision
    shown = read_ticket(store_client, number)
    assert head_escalations(shown) == [] and shown["escalation_level"] == 1
    assert sweep(store_client, clock) == []


def test_a_sweep_older_than_the_supervisors_stamp_leaves_the_head_to_a_later_sweep(
    store_client: TestClient, clock: Clock
) -> None:
    # two sweeps with different clocks (a long one started earlier, cron's `triage sweep` later, or
    # workers whose sweeps began a moment apart): the later one escalates to the supervisor first
    number = create_ticket(store_client)["ticket_no"]
    clock.advance(hours=3)  # the first response is overdue
    earlier, later = clock.now, clock.now + timedelta(minutes=30)
    database: Database = store_client.app.state.services.database  # type: ignore[attr-defined]
    with database.session() as session:
        ticket_id = session.execute(select(Ticket.id).where(Ticket.ticket_no == number)).scalar_one()
        first = escalate(session, ticket_id=ticket_id, deadline=FIRST_RESPONSE, now=later, share=SHARE)
        assert first is not None and first.level == 1
        stale = escalate(
            session, ticket_id=ticket_id, deadline=FIRST_RESPONSE, now=earlier, share=SHARE, level=HEAD_LEVEL
        )
        assert stale is None  # not a head escalation stamped before the supervisor's
        head = escalate(session, ticket_id=ticket_id, deadline=FIRST_RESPONSE, now=later, share=SHARE, level=HEAD_LEVEL)
        assert head is not None and head.level == 2
    shown = read_ticket(store_client, number)
    assert shown["first_response"]["escalated_at"] == shown["first_response"]["head_escalated_at"]
    assert [event["level"] for event in shown["history"] if event["deadline"]] == [1, 2]


def test_a_claim_by_a_sweep_that_began_before_the_last_change_keeps_the_later_updated_at(
    store_client: TestClient, clock: Clock
) -> None:
    number = create_ticket(store_client)["ticket_no"]
    clock.advance(hours=3)  # the first response is overdue
    post_event(store_client, number, stage="assigned", owner="王工")  # not an answer: still pending
    database: Database = store_client.app.state.services.database  # type: ignore[attr-defined]
    with database.session() as session:
        ticket_id, changed = session.execute(
            select(Ticket.id, Ticket.updated_at).where(Ticket.ticket_no == number)
        ).one()
        started = clock.now - timedelta(minutes=5)  # the sweep's clock, fixed when it began
        assert escalate(session, ticket_id=ticket_id, deadline=FIRST_RESPONSE, now=started, share=SHARE) is not None
        assert session.scalar(select(Ticket.updated_at).where(Ticket.id == ticket_id)) == changed


@pytest.mark.parametrize("warned_first", [False, True], ids=["found-overdue", "warned-then-overdue"])
def test_sweeps_running_at_once_escalate_each_deadline_once_to_each_level(
    store_client: TestClient, clock: Clock, database_url: str, warned_first: bool
) -> None:
    numbers = {create_ticket(store_client, customer_id=f"C-{index}")["ticket_no"] for index in range(12)}
    if warned_first:  # escalated to the supervisor at the warning time, by one sweep
        clock.advance(minutes=100)
        assert {item.ticket_no for item in sweep(store_client, clock)} == numbers
        clock.advance(minutes=80)  # every first response overdue: only the head is left
    else:
        clock.advance(hours=3)  # every first response overdue, found so by the racing sweeps
    results: list[list[Escalation]] = []
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def worker() -> None:
        database = Database(database_url)  # a process of its own would have its own engine
        try:
            start.wait()
            with database.session() as session:
                results.append(sweep_deadlines(session, now=clock.now, share=SHARE))
        except BaseException as error:  # reported below
            errors.append(error)
        finally:
            database.dispose()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    escalated = sorted((item.ticket_no, item.level) for result in results for item in result)
    expected_levels = (HEAD_LEVEL,) if warned_first else (1, HEAD_LEVEL)
    assert escalated == sorted((number, level) for number in numbers for level in expected_levels)  # each once
    for result in results:  # within a sweep, a ticket's head escalation follows its supervisor's
        for number in numbers:
            assert [item.level for item in result if item.ticket_no == number] in ([], [1], [2], [1, 2])
    for number in numbers:
        shown = read_ticket(store_client, number)
        assert (len(escalations(shown)), len(head_escalations(shown)), shown["escalation_level"]) == (1, 1, 2)
        assert [event["stage"] for event in shown["history"]] == ["deadline_escalated", "deadline_head_escalated"]


def test_the_service_sweeps_by_itself_and_counts_what_it_escalated(
    make_client: Callable[..., TestClient], clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="api.deadlines")
    client = make_client(deadline_sweep_seconds=0.05)
    number = create_ticket(client)["ticket_no"]
    clock.advance(minutes=100)
    deadline = time.monotonic() + 20
    while not escalations(read_ticket(client, number)):
        assert time.monotonic() < deadline, "the service's sweep did not escalate the near deadline"
        time.sleep(0.05)
    time.sleep(0.3)  # a few more sweeps: nothing more to escalate
    assert len(escalations(read_ticket(client, number))) == 1
    metrics = client.get("/metrics").text
    assert 'triage_deadline_escalations_total{deadline="first_response",level="1",tier="P2"} 1.0' in metrics
    assert 'triage_deadline_escalations_total{deadline="first_response",level="2"' not in metrics  # not passed
    swept = next(line for line in metrics.splitlines() if line.startswith('triage_deadline_sweeps_total{outcome="ok"}'))
    assert float(swept.split()[-1]) >= 2
    clock.advance(minutes=30)  # passed unmet: to the department head
    while not head_escalations(read_ticket(client, number)):
        assert time.monotonic() < deadline, "the service's sweep did not escalate the passed deadline to the head"
        time.sleep(0.05)
    time.sleep(0.3)
    assert len(head_escalations(read_ticket(client, number))) == 1
    metrics = client.get("/metrics").text
    for level in (1, 2):
        assert (
            f'triage_deadline_escalations_total{{deadline="first_response",level="{level}",tier="P2"}} 1.0' in metrics
        )
    assert 'triage_open_escalated_tickets{level="2",tier="P2"} 1.0' in metrics
    assert "escalated 1 deadline(s): 1 to the department head: " in caplog.text


def test_a_failed_sweep_is_logged_and_the_next_one_goes_on(
    make_client: Callable[..., TestClient], clock: Clock, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    client = make_client(deadline_sweep_seconds=0.05)
    number = create_ticket(client)["ticket_no"]
    database: Database = client.app.state.services.database  # type: ignore[attr-defined]
    with database.engine.begin() as connection:  # the events table goes away for a moment
        connection.execute(text("ALTER TABLE ticket_events RENAME TO ticket_events_away"))
    clock.advance(minutes=100)
    deadline = time.monotonic() + 20
    while "deadline sweep failed" not in caplog.text:
        assert time.monotonic() < deadline, "no failed sweep was logged"
        time.sleep(0.05)
    with database.engine.begin() as connection:
        connection.execute(text("ALTER TABLE ticket_events_away RENAME TO ticket_events"))
    while not escalations(read_ticket(client, number)):
        assert time.monotonic() < deadline, "the sweeps did not go on after the failure"
        time.sleep(0.05)
    assert "OperationalError" in caplog.text
    failed = 'triage_deadline_sweeps_total{outcome="failed"}'
    assert any(line.startswith(failed) for line in client.get("/metrics").text.splitlines())
    # the failed sweeps wrote nothing half: the one escalation is whole
    shown = read_ticket(client, number)
    assert len(escalations(shown)) == 1 and shown["first_response"]["escalated_at"] is not None


def test_triage_sweep_escalates_once_for_cron(
    make_client: Callable[..., TestClient], clock: Clock, database_url: str
) -> None:
    clock.now = datetime.now(UTC) - timedelta(hours=3)  # the command sweeps at the real time
    client = make_client(database_url=database_url)
    late = create_ticket(client)["ticket_no"]  # P2: its first response has been due for an hour
    clock.now = datetime.now(UTC)
    fresh = create_ticket(client, customer_id="C-2002")["ticket_no"]
    first = runner.invoke(cli, ["sweep", "--database-url", database_url])
    assert first.exit_code == 0, first.output
    lines = [line.strip() for line in first.output.splitlines()]
    assert [line.split(" due ")[0] for line in lines[:2]] == [f"{late} P2: first_response"] * 2
    assert lines[0].endswith("(passed), to the supervisor") and lines[1].endswith("(passed), to the department head")
    assert (
        "escalated 2 deadline(s): 1 to the supervisor, 1 to the department head (warning at 20 % of the window left)"
        in first.output
    )
    assert fresh not in first.output
    again = runner.invoke(cli, ["sweep", "--database-url", database_url])
    assert again.exit_code == 0 and "no deadline to escalate" in again.output
    shown = read_ticket(client, late)
    ((event,), (head,)) = (escalations(shown), head_escalations(shown))
    assert event["actor"] == head["actor"] == "deadline-sweep" and event["deadline_passed"] is True
    assert shown["escalation_level"] == 2
    assert escalations(read_ticket(client, fresh)) == []


def test_triage_sweep_refuses_a_database_it_does_not_know(tmp_path: Path) -> None:
    (tmp_path / "empty.db").touch()
    result = runner.invoke(cli, ["sweep", "--database-url", f"sqlite:///{tmp_path / 'empty.db'}"])
    assert result.exit_code == 1 and "alembic" in result.output
    missing = runner.invoke(cli, ["sweep", "--database-url", f"sqlite:///{tmp_path / 'typo' / 'triage.db'}"])
    assert missing.exit_code == 1 and "no SQLite database at" in missing.output
    assert not (tmp_path / "typo").exists()


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("due_soon=maybe", "due_soon"),
        ("escalated=2", "escalated"),
        ("overdue=x", "overdue"),
        ("head_escalated=x", "head_escalated"),
    ],
)
def test_bad_deadline_filters_are_422_naming_the_parameter(client: TestClient, query: str, field: str) -> None:
    response = client.get(f"/v1/tickets?{query}", headers=headers("agent"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", field]


def test_the_sweep_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = Settings()
    assert (defaults.deadline_warning_share, defaults.deadline_sweep_seconds) == (0.2, 60)
    monkeypatch.setenv("TRIAGE_DEADLINE_WARNING_SHARE", "0.25")
    monkeypatch.setenv("TRIAGE_DEADLINE_SWEEP_SECONDS", "0")
    configured = Settings()
    assert (configured.deadline_warning_share, configured.deadline_sweep_seconds) == (0.25, 0)
    for name, value in (
        ("deadline_warning_share", 1.0),
        ("deadline_warning_share", -0.1),
        ("deadline_sweep_seconds", -1),
    ):
        with pytest.raises(ValidationError, match=name):
            Settings(**{name: value})
