"""The backlog gauges of /metrics, read from the database at each scrape: open tickets by tier and
deadline state, escalated open tickets, the oldest open ticket's age; and a database that cannot be
read, which leaves /metrics answering with everything else.

The app's clock is the test's `Clock` (2026-11-23 10:00 in Shanghai, t0); a complaint like
`COMPLAINT` is P2: first response due at t0 + 2 h (near from t0 + 96 min), resolution at t0 + 48 h
(near from t0 + 38 h 24 min). Corrected to P1: due at t0 + 1 h (near from t0 + 48 min) and t0 + 24 h.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from api.cli import app as cli
from api.db import POOL_OVERFLOW, POOL_SIZE, Database
from api.deps import Services
from api.services.deadline_escalation import sweep_deadlines

from .conftest import Clock, TestClient, create_ticket, headers

TIERS = ("P1", "P2", "P3")
LEVELS = ("1", "2")
STATES = ("on_time", "due_soon", "overdue", "awaiting_confirmation")
Samples = dict[str, dict[tuple[str, ...], float]]


def scrape(client: TestClient) -> Samples:
    """GET /metrics (asserting 200): sample name → label values → value. The exposition sorts the
    labels by name; here `tier` comes first, then the others in that order."""
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            names = sorted(sample.labels, key=lambda name: (name != "tier", name))
            samples.setdefault(sample.name, {})[tuple(sample.labels[name] for name in names)] = sample.value
    return samples


def open_tickets(samples: Samples) -> dict[tuple[str, ...], float]:
    """`triage_open_tickets` without its zeros."""
    return {labels: value for labels, value in samples.get("triage_open_tickets", {}).items() if value}


def expect_zeros_elsewhere(samples: Samples) -> None:
    """Every tier of the taxonomy has all four states, and only those, and both escalation levels."""
    assert set(samples["triage_open_tickets"]) == {(tier, state) for tier in TIERS for state in STATES}
    assert set(samples["triage_open_escalated_tickets"]) == {(tier, level) for tier in TIERS for level in LEVELS}


def escalated(samples: Samples) -> dict[tuple[str, ...], float]:
    """`triage_open_escalated_tickets{tier,level}` without its zeros."""
    return {labels: value for labels, value in samples["triage_open_escalated_tickets"].items() if value}


def database_of(client: TestClient) -> Database:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    assert services.database is not None
    return services.database


def sweep(client: TestClient, clock: Clock) -> list[tuple[str, str, int]]:
    """One sweep of the real deadline sweep on the app's database at the app's clock: (ticket, deadline, level)."""
    with database_of(client).session() as session:
        done = sweep_deadlines(session, now=clock.now, share=0.2)
    return [(item.ticket_no, item.deadline, item.level) for item in done]


def post_event(client: TestClient, ticket_no: str, **event: Any) -> None:
    response = client.post(f"/v1/tickets/{ticket_no}/events", json=event, headers=headers("agent"))
    assert response.status_code == 201, response.text


def listed(client: TestClient, query: str) -> list[str]:
    response = client.get(f"/v1/tickets?{query}", headers=headers("agent"))
    assert response.status_code == 200, response.text
    return [item["ticket_no"] for item in response.json()["items"]]


def test_the_backlog_gauges_count_open_tickets_by_tier_and_deadline_state(
    store_client: TestClient, clock: Clock
) -> None:
    t0 = clock.now
    p2 = create_ticket(store_client)["ticket_no"]
    p1 = create_ticket(store_client, customer_id="C-2002")["ticket_no"]
    review = {"action": "correct", "tier": "P1"}
    response = store_client.post(f"/v1/tickets/{p1}/review", json=review, headers=headers("agent"))
    assert response.status_code == 200 and response.json()["tier"]["code"] == "P1", response.text
    answered = create_ticket(store_client, customer_id="C-3003")["ticket_no"]
    post_event(store_client, answered, stage="customer_contacted")
    closed = create_ticket(store_client, customer_id="C-4004")["ticket_no"]
    post_event(store_client, closed, stage="resolved", resolution="已上门维修")
    post_event(store_client, closed, stage="closed", feedback="satisfied")  # not open: counted nowhere

    samples = scrape(store_client)
    expect_zeros_elsewhere(samples)
    assert open_tickets(samples) == {("P1", "on_time"): 1, ("P2", "on_time"): 2}
    # the review made it P1: escalated to the department head at once (practice 003), whatever its deadlines say
    assert escalated(samples) == {("P1", "2"): 1}
    assert samples["triage_oldest_open_ticket_age_seconds"] == {("P1",): 0, ("P2",): 0}  # none for P3
    assert samples["triage_backlog_up"] == {(): 1} and samples["triage_backlog_scrape_errors_total"] == {(): 0}

    clock.now = t0 + timedelta(minutes=50)  # the P1 first response is near
    assert open_tickets(scrape(store_client)) == {("P1", "due_soon"): 1, ("P2", "on_time"): 2}
    assert sweep(store_client, clock) == [(p1, "first_response", 1)]
    samples = scrape(store_client)
    assert open_tickets(samples) == {("P1", "due_soon"): 1, ("P2", "on_time"): 2}
    assert escalated(samples) == {("P1", "2"): 1}  # the deadline to the supervisor: the head was told already

    clock.now = t0 + timedelta(minutes=100)  # the P1 first response is overdue, the P2 one near
    samples = scrape(store_client)
    expect_zeros_elsewhere(samples)
    assert open_tickets(samples) == {("P1", "overdue"): 1, ("P2", "due_soon"): 1, ("P2", "on_time"): 1}
    assert escalated(samples) == {("P1", "2"): 1}  # overdue, not swept since
    assert samples["triage_oldest_open_ticket_age_seconds"] == {("P1",): 6000, ("P2",): 6000}
    # the P2 first response near: to the supervisor; the P1 one passed unmet: to the department head
    assert sweep(store_client, clock) == [(p2, "first_response", 1), (p1, "first_response", 2)]
    samples = scrape(store_client)
    assert escalated(samples) == {("P1", "2"): 1, ("P2", "1"): 1}  # by the highest level only
    post_event(store_client, p1, stage="customer_contacted")  # met late: on time again, still escalated
    samples = scrape(store_client)
    expect_zeros_elsewhere(samples)
    assert open_tickets(samples) == {("P1", "on_time"): 1, ("P2", "due_soon"): 1, ("P2", "on_time"): 1}
    assert escalated(samples) == {("P1", "2"): 1, ("P2", "1"): 1}

    # t0 + 40 h: the P2 ticket's first response is overdue and its resolution near: overdue only
    clock.now = t0 + timedelta(hours=40)
    assert sorted(listed(store_client, "due_soon=true")) == sorted([p2, answered])
    assert sorted(listed(store_client, "overdue=true")) == sorted([p1, p2])
    samples = scrape(store_client)
    assert open_tickets(samples) == {("P1", "overdue"): 1, ("P2", "overdue"): 1, ("P2", "due_soon"): 1}
    assert samples["triage_oldest_open_ticket_age_seconds"] == {("P1",): 40 * 3600, ("P2",): 40 * 3600}
    assert database_of(store_client).engine.pool.checkedout() == 0  # no connection kept by a scrape


def test_a_resolved_ticket_awaits_confirmation_and_does_not_set_the_oldest_age(
    store_client: TestClient, clock: Clock
) -> None:
    t0 = clock.now
    clock.now = t0 - timedelta(hours=30)
    waiting = create_ticket(store_client)["ticket_no"]  # P2, received 30 h before t0
    post_event(store_client, waiting, stage="resolved", resolution="已退款")
    clock.now = t0 - timedelta(hours=1)
    worked = create_ticket(store_client, customer_id="C-2002")["ticket_no"]
    post_event(store_client, worked, stage="customer_contacted")
    clock.now = t0

    samples = scrape(store_client)
    expect_zeros_elsewhere(samples)
    assert open_tickets(samples) == {("P2", "awaiting_confirmation"): 1, ("P2", "on_time"): 1}
    assert samples["triage_oldest_open_ticket_age_seconds"] == {("P2",): 3600}  # not the 30 h of the resolved one

    post_event(store_client, worked, stage="resolved", resolution="已更换")  # nothing is being worked on
    samples = scrape(store_client)
    assert open_tickets(samples) == {("P2", "awaiting_confirmation"): 2}
    assert not samples.get("triage_oldest_open_ticket_age_seconds")

    # reopened: worked on again (its resolution due 48 h after intake, 18 h from now), it sets the age again
    post_event(store_client, waiting, stage="reopened")
    samples = scrape(store_client)
    assert open_tickets(samples) == {("P2", "awaiting_confirmation"): 1, ("P2", "on_time"): 1}
    assert samples["triage_oldest_open_ticket_age_seconds"] == {("P2",): 30 * 3600}


def test_escalations_by_triage_sweep_show_in_every_workers_gauges(
    make_client: Callable[..., TestClient], clock: Clock, database_url: str
) -> None:
    clock.now = datetime.now(UTC) - timedelta(hours=3)  # the command sweeps at the real time
    worker = make_client(database_url=database_url)
    other_worker = make_client(database_url=database_url)
    late = create_ticket(worker)["ticket_no"]  # P2: its first response has been due for an hour
    clock.now = datetime.now(UTC)
    create_ticket(other_worker, customer_id="C-2002")
    result = CliRunner().invoke(cli, ["sweep", "--database-url", database_url])
    assert result.exit_code == 0 and late in result.output, result.output
    for client in (worker, other_worker):
        samples = scrape(client)
        assert open_tickets(samples) == {("P2", "overdue"): 1, ("P2", "on_time"): 1}
        assert escalated(samples) == {("P2", "2"): 1}  # found passed: to the supervisor and the head
        # the per-process counter of the service's own sweeps did not see it
        assert "triage_deadline_escalations_total" not in samples


def test_a_database_that_cannot_be_read_leaves_metrics_answering(
    store_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    create_ticket(store_client)
    database = database_of(store_client)
    caplog.set_level(logging.INFO, logger="api.metrics")

    def warned() -> list[str]:
        return [record.getMessage() for record in caplog.records if record.levelno == logging.WARNING]

    def rename(old: str, new: str) -> None:
        with database.engine.begin() as connection:
            connection.execute(text(f"ALTER TABLE {old} RENAME TO {new}"))

    rename("tickets", "tickets_away")
    for errors in (1, 2):  # a run of failures, logged once
        samples = scrape(store_client)
        assert samples["triage_backlog_up"] == {(): 0}
        assert samples["triage_backlog_scrape_errors_total"] == {(): errors}
        assert "triage_open_tickets" not in samples and "triage_open_escalated_tickets" not in samples
        assert samples["triage_model_info"] == {("test-sample",): 1}
        assert samples["triage_tickets_created_total"] == {("P2",): 1}
        assert samples["triage_http_requests_total"][("POST", "/v1/tickets", "201")] == 1
    (warning,) = warned()
    assert "the database could not be read" in warning
    assert "no such table: tickets" in warning or 'relation "tickets" does not exist' in warning
    assert database.scrape_engine.pool.checkedout() == 0

    rename("tickets_away", "tickets")
    samples = scrape(store_client)
    assert samples["triage_backlog_up"] == {(): 1} and samples["triage_backlog_scrape_errors_total"] == {(): 2}
    assert open_tickets(samples) == {("P2", "on_time"): 1}
    assert "the database is read again" in caplog.text

    rename("tickets", "tickets_away")  # a new run of failures: logged again
    assert scrape(store_client)["triage_backlog_scrape_errors_total"] == {(): 3}
    assert len(warned()) == 2
    rename("tickets_away", "tickets")


def test_a_scrape_does_not_wait_behind_requests_holding_every_connection(store_client: TestClient) -> None:
    create_ticket(store_client)
    database = database_of(store_client)
    held = [database.engine.connect() for _ in range(POOL_SIZE + POOL_OVERFLOW)]  # the requests' whole pool
    try:
        samples = scrape(store_client)
    finally:
        for connection in held:
            connection.close()
    assert samples["triage_backlog_up"] == {(): 1}
    assert open_tickets(samples) == {("P2", "on_time"): 1}
    assert database.scrape_engine.pool.checkedout() == 0


def test_an_unreachable_database_leaves_metrics_answering(client: TestClient) -> None:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    working = services.database
    services.database = Database("postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2")
    try:
        samples = scrape(client)
        assert samples["triage_backlog_up"] == {(): 0} and samples["triage_backlog_scrape_errors_total"] == {(): 1}
        assert samples["triage_model_info"] == {("test-sample",): 1}
    finally:
        services.database.dispose()
        services.database = working
    assert scrape(client)["triage_backlog_up"] == {(): 1}


def test_a_scrape_waiting_for_a_locked_table_is_cancelled_on_postgresql(
    postgres_url: str, make_client: Callable[..., TestClient]
) -> None:
    client = make_client(database_url=postgres_url, metrics_query_timeout_seconds=0.3)
    locker = create_engine(postgres_url)
    connection = locker.connect()
    connection.execute(text("LOCK TABLE tickets IN ACCESS EXCLUSIVE MODE"))  # e.g. a migration
    # without the statement timeout the scrape would wait for the lock: let it go after 20 s
    release = threading.Timer(20, connection.rollback)
    release.start()
    try:
        started = time.monotonic()
        samples = scrape(client)
        waited = time.monotonic() - started
    finally:
        release.cancel()
        connection.rollback()
        connection.close()
        locker.dispose()
    assert samples["triage_backlog_up"] == {(): 0} and samples["triage_backlog_scrape_errors_total"] == {(): 1}
    assert waited < 5, f"the scrape waited {waited:.1f} s for the lock"
    assert scrape(client)["triage_backlog_up"] == {(): 1}
