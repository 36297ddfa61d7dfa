"""Upgrading databases of earlier schema revisions, with their tickets, events and surveys, to the
newest revision, on SQLite and PostgreSQL: nothing is lost, every survey keeps counting as it
should (the survey of a ticket's latest closure, while it is closed), and tickets of before the
deadline escalation (0003) are escalated once, when their deadline is near or passed; the index
of open tickets (0004) is what the sweep and the backlog metrics read; and tickets of before the
escalation to the department head (0006) already overdue are escalated to it once; and tickets of
before the urgent escalation at intake (0007) are not back-filled: nobody told the head then; nor
are the escalations of before the notification outbox (0008): nobody is told late.

The old rows are written with SQL against the tables as their revision made them (reflected), not
through today's models, as a database of the previous release holds them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import Connection, MetaData, func, inspect, select, text

from api.db import Database, alembic_config, current_revisions, head_revisions
from api.services.backlog import backlog_statement
from api.services.deadline_escalation import needing_escalation, sweep_deadlines
from api.services.deadlines import FIRST_RESPONSE

from .conftest import Clock, TestClient, headers

NAMES = ("timeliness", "effectiveness", "attitude", "overall")
DAY = datetime(2026, 11, 20, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai, three days before the app's clock
LABELS = ("product", "defect", "P2", "repair")  # category, subtype, tier, demand
HEADS = ("category", "subtype", "tier", "demand")


def at(hours: float) -> datetime:
    return DAY + timedelta(hours=hours)


class Rows0001:
    """Inserts rows into a database at revision 0001."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.sqlite = connection.dialect.name == "sqlite"
        metadata = MetaData()
        metadata.reflect(connection)
        self.tables = metadata.tables

    def time(self, moment: datetime) -> datetime:
        # SQLite's reflected DATETIME stores the wall time it is given: UTC, as the service writes it
        return moment.replace(tzinfo=None) if self.sqlite else moment

    def _insert(self, table: str, **values: Any) -> int:
        # ids come from the database (its sequences), as the service's inserts get them
        key = self.connection.execute(self.tables[table].insert().values(**values)).inserted_primary_key
        assert key is not None
        return int(key[0])

    def ticket(self, number: int, status: str, closed_at: datetime | None, **changes: Any) -> int:
        """A P2 ticket received at(0), answered at(1) (due at(2)), resolved at(20) when it is closed
        (due at(48)); `changes` replace any of its values."""
        received = at(0)
        values = dict(
            ticket_no=f"TS-20261120-{number:06d}",
            received_at=self.time(received),
            channel="phone",
            customer_id=f"C-{number}",
            customer_name="李女士",
            contact="13812345678",
            order_id=None,
            product="热水器",
            occurred_at=None,
            text=f"热水器漏水，第{number}次投诉，电话[PHONE]",
            text_issues=[],
            status=status,
            owner="王工",
            revision=5,
            **dict(zip(HEADS, LABELS)),
            department="tech",
            **{f"suggested_{head}": code for head, code in zip(HEADS, LABELS)},
            suggested_department="tech",
            category_probability=0.9,
            subtype_probability=0.8,
            tier_probability=0.7,
            department_probability=0.9,
            top_tier_probability=0.1,
            top_subtypes=[{"code": LABELS[1], "probability": 0.8}],
            explanation={"subtype": [{"term": "漏水", "kind": "word", "weight": 1.5, "spans": [[3, 5]]}]},
            needs_review=False,
            review_reasons=[],
            model_version="previous-release",
            emotion_index=40,
            escalation_rule=None,
            escalations=[],
            first_response_due=self.time(at(2)),
            resolution_due=self.time(at(48)),
            first_responded_at=self.time(at(1)),
            resolved_at=self.time(at(20)) if status == "closed" else None,
            closed_at=self.time(closed_at) if closed_at is not None else None,
            repeat_of_id=None,
            updated_at=self.time(at(30)),
        )
        return self._insert("tickets", **{**values, **changes})

    def event(self, ticket_id: int, stage: str, hours: float, **details: Any) -> int:
        return self._insert(
            "ticket_events",
            ticket_id=ticket_id,
            stage=stage,
            from_status="x",
            actor="agent-old",
            at=self.time(at(hours)),
            owner=None,
            note=None,
            details=details,
        )

    def survey(self, ticket_id: int, hours: float, scores: tuple[int, int, int, int]) -> int:
        return self._insert(
            "surveys",
            ticket_id=ticket_id,
            **dict(zip(NAMES, scores)),
            method="phone",
            best_aspects=["attitude"],
            improve_aspects=[],
            comment="还可以",
            surveyed_by="agent-old",
            surveyed_at=self.time(at(hours)),
        )


def database_at(url: str, revision: str) -> Database:
    """The (empty) database at `url` migrated up to `revision`, as an older release left it."""
    database = Database(url)
    try:
        with database.engine.connect() as connection:
            command.upgrade(alembic_config(connection), revision)
            connection.commit()
    except BaseException:
        database.dispose()
        raise
    return database


def build_0001(url: str) -> int:
    """A database at revision 0001 with three tickets of the previous release:

    1. closed once and surveyed (its survey is current);
    2. closed, surveyed, reopened, closed again: the previous release refused a second survey, so
       its only survey judged the first closure and is not current;
    3. closed, surveyed, then reopened and still open (no current survey).

    Returns the id of ticket 2's second `closed` event.
    """
    database = database_at(url, "0001")
    try:
        with database.engine.begin() as connection:
            rows = Rows0001(connection)
            first = rows.ticket(1, "closed", at(21))
            rows.event(first, "resolved", 20, resolution="已更换")
            rows.event(first, "closed", 21, feedback="satisfied")
            rows.survey(first, 40, (5, 4, 5, 5))

            second = rows.ticket(2, "closed", at(60))
            rows.event(second, "resolved", 20, resolution="已维修")
            rows.event(second, "closed", 21, feedback="mostly")
            rows.survey(second, 30, (4, 4, 4, 4))
            rows.event(second, "reopened", 50)
            rows.event(second, "resolved", 59, resolution="已更换")
            last_closure = rows.event(second, "closed", 60, feedback="satisfied")

            third = rows.ticket(3, "reopened", None)
            rows.event(third, "resolved", 20, resolution="已维修")
            rows.event(third, "closed", 21, feedback="satisfied")
            rows.survey(third, 25, (2, 2, 2, 2))
            rows.event(third, "reopened", 40)
    finally:
        database.dispose()
    return last_closure


def same_time(shown: str | None, moment: datetime) -> bool:
    return shown is not None and datetime.fromisoformat(shown) == moment


def read_ticket_number(client: TestClient, number: int) -> dict[str, Any]:
    """Ticket `number` of those Rows0001 writes, as an agent reads it."""
    response = client.get(f"/v1/tickets/TS-20261120-{number:06d}", headers=headers("agent"))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def swept(database: Database, clock: Clock) -> list[tuple[str, str, bool, int]]:
    """One sweep at the app's clock: (ticket number, deadline, passed, level) of what it escalated."""
    with database.session() as session:
        done = sweep_deadlines(session, now=clock.now, share=0.2)
    return [(item.ticket_no, item.deadline, item.passed, item.level) for item in done]


def test_a_database_of_revision_0001_is_upgraded_without_losing_a_survey(
    database_url: str, make_client: Callable[..., TestClient]
) -> None:
    build_0001(database_url)
    client = make_client(database_url=database_url)  # starts with auto-migration (the default)
    database = Database(database_url)
    try:
        with database.engine.connect() as connection:
            assert current_revisions(connection) == head_revisions() == {"0008"}
            assert connection.execute(text("SELECT count(*) FROM surveys")).scalar_one() == 3
            assert connection.execute(text("SELECT count(*) FROM ticket_events")).scalar_one() == 10
    finally:
        database.dispose()

    def read(number: int, role: str = "agent") -> dict[str, Any]:
        response = client.get(f"/v1/tickets/TS-20261120-{number:06d}", headers=headers(role))
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    once, twice, open_again = read(1), read(2), read(3)
    # the ticket itself reads as before, with the new fields empty
    assert once["text"] == "热水器漏水，第1次投诉，电话[PHONE]" and once["contact"] == "13812345678"
    assert once["customer_name"] == "李女士" and once["product"] == "热水器" and once["owner"] == "王工"
    assert once["suggestion"]["explanation"]["subtype"][0]["term"] == "漏水"
    assert (once["location"], once["demand_note"], once["received_by"]) == (None, None, None)
    assert [event["stage"] for event in twice["history"]] == ["resolved", "closed", "reopened", "resolved", "closed"]

    # 1: its survey is the survey of its (only) closure, current
    assert [survey["overall"] for survey in once["surveys"]] == [5]
    assert once["survey"] == once["surveys"][0] and once["survey"]["current"] is True
    assert same_time(once["survey"]["closed_at"], at(21)) and same_time(once["survey"]["surveyed_at"], at(40))
    assert same_time(once["survey_due"], at(21 + 48))
    # 2: its survey judged the first closure; the second has none yet, and may now get one
    assert twice["survey"] is None
    assert [(s["overall"], s["current"]) for s in twice["surveys"]] == [(4, False)]
    assert same_time(twice["surveys"][0]["closed_at"], at(21)) and same_time(twice["survey_due"], at(60 + 48))
    # 3: reopened, its survey no longer counts
    assert open_again["survey"] is None and open_again["survey_due"] is None
    assert [(s["overall"], s["current"]) for s in open_again["surveys"]] == [(2, False)]

    stats = client.get("/v1/stats?from=2026-11-20&to=2026-11-20&group_by=month", headers=headers("analyst")).json()
    assert stats["total"]["tickets"] == 3
    assert stats["total"]["survey"] == {
        "responses": 1,
        "timeliness": 5.0,
        "effectiveness": 4.0,
        "attitude": 5.0,
        "overall": 5.0,
    }

    again = client.post(
        "/v1/tickets/TS-20261120-000002/survey", json=dict(zip(NAMES, (3, 2, 3, 3))), headers=headers("agent")
    )
    assert again.status_code == 201, again.text
    assert [(s["overall"], s["current"]) for s in read(2)["surveys"]] == [(4, False), (3, True)]
    refused = client.post(
        "/v1/tickets/TS-20261120-000001/survey", json=dict(zip(NAMES, (1, 1, 1, 1))), headers=headers("agent")
    )
    assert refused.status_code == 409 and refused.json()["detail"][0]["type"] == "survey_exists"
    stats = client.get("/v1/stats?from=2026-11-20&to=2026-11-20&group_by=month", headers=headers("analyst")).json()
    assert stats["total"]["survey"]["responses"] == 2 and stats["total"]["survey"]["overall"] == 4.0  # (5 + 3) / 2


def test_going_back_to_0001_is_refused_while_a_ticket_has_several_surveys(database_url: str) -> None:
    last_closure = build_0001(database_url)
    database = Database(database_url)
    try:
        database.prepare(auto_migrate=True)
        with database.engine.connect() as connection:
            # without a ticket of several surveys, the way back works and keeps every survey
            command.downgrade(alembic_config(connection), "0001")
            connection.commit()
            assert current_revisions(connection) == {"0001"}
            assert connection.execute(text("SELECT count(*) FROM surveys")).scalar_one() == 3
        database.prepare(auto_migrate=True)
        with database.engine.begin() as connection:
            metadata = MetaData()
            metadata.reflect(connection)
            surveys = metadata.tables["surveys"]
            copy = dict(connection.execute(select(surveys).where(surveys.c.overall == 4)).mappings().one())
            del copy["id"]
            connection.execute(surveys.insert().values({**copy, "closed_event_id": last_closure}))
        with database.engine.connect() as connection:
            # to 0002 first: SQLite commits each revision's step (PostgreSQL the whole run), so the
            # refusal of 0002's step leaves both at 0002
            command.downgrade(alembic_config(connection), "0002")
            connection.commit()
            with pytest.raises(RuntimeError, match="1 ticket\\(s\\) have several surveys"):
                command.downgrade(alembic_config(connection), "0001")
            connection.rollback()
            assert current_revisions(connection) == {"0002"}
            assert connection.execute(select(func.count()).select_from(surveys)).scalar_one() == 4
    finally:
        database.dispose()


def test_a_database_of_revision_0002_is_upgraded_and_its_late_tickets_escalated_once(
    database_url: str, make_client: Callable[..., TestClient], clock: Clock
) -> None:
    database = database_at(database_url, "0002")
    try:
        with database.engine.begin() as connection:
            rows = Rows0001(connection)  # the tables as 0002 has them; its new columns are left empty
            closed = rows.ticket(1, "closed", at(21))
            rows.event(closed, "resolved", 20, resolution="已更换")
            rows.event(closed, "closed", 21, feedback="satisfied")
            late = rows.ticket(2, "in_progress", None)  # answered; its resolution was due at(48)
            rows.event(late, "customer_contacted", 1)
            rows.ticket(  # received an hour before the app's clock, at(73): not near
                3,
                "received",
                None,
                received_at=rows.time(at(72)),
                first_response_due=rows.time(at(74)),
                resolution_due=rows.time(at(120)),
                first_responded_at=None,
            )
        client = make_client(database_url=database_url)  # upgrades to the newest revision
        assert clock.now == at(73)

        def read(number: int) -> dict[str, Any]:
            return read_ticket_number(client, number)

        before = [read(number) for number in (1, 2, 3)]
        assert [(t["escalation_level"], t["overdue"], t["due_soon"]) for t in before] == [
            (0, False, False),
            (0, True, False),
            (0, False, False),
        ]
        assert before[1]["resolution"]["escalated_at"] is None and before[1]["owner"] == "王工"
        assert [event["stage"] for event in before[0]["history"]] == ["resolved", "closed"]

        def sweep() -> list[tuple[str, str, bool, int]]:
            return swept(database, clock)

        # once, the first sweep after the upgrade: to the supervisor, then (passed) to the department head
        assert sweep() == [("TS-20261120-000002", "resolution", True, 1), ("TS-20261120-000002", "resolution", True, 2)]
        assert sweep() == []
        escalated = read(2)
        assert escalated["escalation_level"] == 2 and same_time(escalated["resolution"]["escalated_at"], at(73))
        assert [event["stage"] for event in escalated["history"]] == [
            "customer_contacted",
            "deadline_escalated",
            "deadline_head_escalated",
        ]
        assert read(1)["escalation_level"] == read(3)["escalation_level"] == 0

        # back to 0002 and up again: the escalation event stayed, and the column is filled from it
        with database.engine.connect() as connection:
            command.downgrade(alembic_config(connection), "0002")
            connection.commit()
            assert current_revisions(connection) == {"0002"}
            columns = {column["name"] for column in inspect(connection).get_columns("tickets")}
            assert not columns & {"first_response_escalated_at", "resolution_escalated_at"}
            escalations = "SELECT count(*) FROM ticket_events WHERE stage = 'deadline_escalated'"
            assert connection.execute(text(escalations)).scalar_one() == 1
        database.prepare(auto_migrate=True)
        assert sweep() == []
        again = read(2)
        assert again["escalation_level"] == 2 and same_time(again["resolution"]["escalated_at"], at(73))
        assert again["first_response"]["escalated_at"] is None and len(again["history"]) == 3
        assert read(3)["escalation_level"] == 0
    finally:
        database.dispose()


def test_revision_0004_indexes_the_open_tickets_for_the_sweep_and_the_backlog(database_url: str) -> None:
    database = Database(database_url)

    def indexes(connection: Connection) -> set[str]:
        return {str(index["name"]) for index in inspect(connection).get_indexes("tickets")}

    try:
        database.prepare(auto_migrate=True)
        with database.engine.connect() as connection:
            assert "ix_tickets_open" in indexes(connection)
            if connection.dialect.name == "sqlite":  # without ANALYZE statistics, as the service runs
                for statement in (
                    needing_escalation(FIRST_RESPONSE, after=-1, now=at(0), share=0.2),
                    backlog_statement(at(0), 0.2),
                ):
                    sql = str(statement.compile(connection, compile_kwargs={"literal_binds": True}))
                    plan = " ".join(row[-1] for row in connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}"))
                    assert "USING INDEX ix_tickets_open" in plan, plan
            connection.rollback()
            command.downgrade(alembic_config(connection), "0003")
            connection.commit()
            assert "ix_tickets_open" not in indexes(connection)
            assert current_revisions(connection) == {"0003"}
        database.prepare(auto_migrate=True)
        with database.engine.connect() as connection:
            assert "ix_tickets_open" in indexes(connection)
    finally:
        database.dispose()


def test_revision_0005_stamps_the_sweeps_verdict_of_deadlines_escalated_before_it(
    database_url: str, make_client: Callable[..., TestClient], clock: Clock
) -> None:
    # escalated by the previous release, then re-tiered so that the due times moved past the verdicts:
    # 1. first response escalated near (passed false), since re-tiered so that it is due before then;
    # 2. resolution escalated passed (true), since re-tiered so that it is due after then;
    # 3. a stamp without its event (never written by the service): judged by the times;
    # 4. nothing escalated.
    database = database_at(database_url, "0004")
    try:
        with database.engine.begin() as connection:
            rows = Rows0001(connection)  # the tables as 0004 has them
            near = rows.ticket(
                1,
                "received",
                None,
                first_responded_at=None,
                first_response_escalated_at=rows.time(at(1.7)),
                first_response_due=rows.time(at(1)),  # re-tiered P2 → P1 after the escalation
            )
            rows.event(near, "deadline_escalated", 1.7, deadline="first_response", due=at(2).isoformat(), passed=False)
            late = rows.ticket(
                2, "in_progress", None, resolution_escalated_at=rows.time(at(50)), resolution_due=rows.time(at(72))
            )
            rows.event(late, "deadline_escalated", 50, deadline="resolution", due=at(48).isoformat(), passed=True)
            rows.ticket(3, "in_progress", None, resolution_escalated_at=rows.time(at(50)))  # due at(48): passed
            rows.ticket(4, "in_progress", None)
        database.prepare(auto_migrate=True)
        verdicts = "SELECT ticket_no, first_response_escalated_passed, resolution_escalated_passed FROM tickets"
        with database.engine.connect() as connection:
            stamped = {number: (first, resolution) for number, first, resolution in connection.execute(text(verdicts))}
        assert {
            number[-1]: tuple(None if v is None else bool(v) for v in pair) for number, pair in stamped.items()
        } == {
            "1": (False, None),
            "2": (None, True),
            "3": (None, True),
            "4": (None, None),
        }
        clock.now = at(80)
        client = make_client(database_url=database_url)
        response = client.get("/v1/stats?from=2026-11-20&to=2026-11-20", headers=headers("analyst"))
        assert response.status_code == 200, response.text
        escalation = response.json()["total"]["deadline_escalation"]
        assert escalation["first_response"] == {"escalated": 1, "passed": 0, "head_escalated": 0}
        assert escalation["resolution"] == {"escalated": 2, "passed": 2, "head_escalated": 0}
        with database.engine.connect() as connection:
            command.downgrade(alembic_config(connection), "0004")
            connection.commit()
            columns = {column["name"] for column in inspect(connection).get_columns("tickets")}
            assert not columns & {"first_response_escalated_passed", "resolution_escalated_passed"}
    finally:
        database.dispose()


def test_revision_0006_lets_the_first_sweep_escalate_overdue_tickets_to_the_department_head_once(
    database_url: str, make_client: Callable[..., TestClient], clock: Clock
) -> None:
    # tickets of the previous release (0005), the app's clock at(73):
    # 1. resolution escalated to the supervisor while near, now overdue and unmet;
    # 2. resolution overdue, never escalated (no sweep ran): to the supervisor, then to the head;
    # 3. resolution escalated near, then met (resolved): nothing;
    # 4. closed: nothing.
    database = database_at(database_url, "0005")
    try:
        with database.engine.begin() as connection:
            rows = Rows0001(connection)  # the tables as 0005 has them
            warned = rows.ticket(
                1,
                "in_progress",
                None,
                resolution_escalated_at=rows.time(at(40)),
                resolution_escalated_passed=False,
            )
            rows.event(warned, "deadline_escalated", 40, deadline="resolution", due=at(48).isoformat(), passed=False)
            rows.ticket(2, "in_progress", None)
            rows.ticket(
                3,
                "resolved",
                None,
                resolved_at=rows.time(at(45)),
                resolution_escalated_at=rows.time(at(40)),
                resolution_escalated_passed=False,
            )
            rows.ticket(4, "closed", at(21), resolved_at=rows.time(at(20)))
        client = make_client(database_url=database_url)  # upgrades to the newest revision
        assert clock.now == at(73)
        with database.engine.connect() as connection:
            columns = {column["name"] for column in inspect(connection).get_columns("tickets")}
            assert {"first_response_head_escalated_at", "resolution_head_escalated_at"} <= columns

        def sweep() -> list[tuple[str, str, int]]:
            return [(number[-1], deadline, level) for number, deadline, _, level in swept(database, clock)]

        assert sweep() == [("1", "resolution", 2), ("2", "resolution", 1), ("2", "resolution", 2)]
        assert sweep() == []

        def read(number: int) -> dict[str, Any]:
            return read_ticket_number(client, number)

        assert [read(number)["escalation_level"] for number in (1, 2, 3, 4)] == [2, 2, 1, 0]
        assert [event["stage"] for event in read(1)["history"]] == ["deadline_escalated", "deadline_head_escalated"]
        response = client.get("/v1/tickets?head_escalated=true", headers=headers("agent"))
        assert sorted(item["ticket_no"][-1] for item in response.json()["items"]) == ["1", "2"]

        # back to 0005 and up again: the events stayed, and the columns are filled from them
        heads = "SELECT count(*) FROM ticket_events WHERE stage = 'deadline_head_escalated'"
        with database.engine.connect() as connection:
            command.downgrade(alembic_config(connection), "0005")
            connection.commit()
            assert current_revisions(connection) == {"0005"}
            columns = {column["name"] for column in inspect(connection).get_columns("tickets")}
            assert not columns & {"first_response_head_escalated_at", "resolution_head_escalated_at"}
            assert connection.execute(text(heads)).scalar_one() == 2
        database.prepare(auto_migrate=True)
        assert sweep() == []
        stamps = (
            "SELECT ticket_no, resolution_head_escalated_at FROM tickets WHERE resolution_head_escalated_at IS NOT NULL"
        )
        with database.engine.connect() as connection:
            assert sorted(number[-1] for number, _ in connection.execute(text(stamps))) == ["1", "2"]
            assert connection.execute(text(heads)).scalar_one() == 2
        assert [read(number)["escalation_level"] for number in (1, 2, 3, 4)] == [2, 2, 1, 0]
    finally:
        database.dispose()


def test_revision_0007_adds_the_urgent_escalation_empty_for_earlier_tickets_p1_ones_too(
    database_url: str, make_client: Callable[..., TestClient], clock: Clock
) -> None:
    # tickets of the previous release (0006), answered in time and not yet due: a P1 and a P2 one
    database = database_at(database_url, "0006")
    try:
        with database.engine.begin() as connection:
            rows = Rows0001(connection)  # the tables as 0006 has them
            urgent_tier = {"tier": "P1", "suggested_tier": "P1", "resolution_due": rows.time(at(96))}
            rows.ticket(1, "in_progress", None, **urgent_tier)
            rows.ticket(2, "in_progress", None, resolution_due=rows.time(at(96)))
        client = make_client(database_url=database_url)  # upgrades to the newest revision
        with database.engine.connect() as connection:
            assert current_revisions(connection) == head_revisions()
            assert "head_escalated_at" in {column["name"] for column in inspect(connection).get_columns("tickets")}
            stamps = connection.execute(text("SELECT head_escalated_at FROM tickets ORDER BY id")).scalars().all()
            assert stamps == [None, None]  # not back-filled, the P1 one included
        old = [read_ticket_number(client, number) for number in (1, 2)]
        assert [ticket["tier"]["code"] for ticket in old] == ["P1", "P2"]
        assert [(ticket["head_escalated_at"], ticket["escalation_level"]) for ticket in old] == [(None, 0), (None, 0)]
        assert [ticket["history"] for ticket in old] == [[], []]
        assert swept(database, clock) == []  # and the sweep does not make up for it: deadlines only
        response = client.post(
            "/v1/tickets",
            json={"text": "买的热水器用了两天就漏电，差点出事，要求上门检修。", "channel": "phone"},
            headers=headers("intake", **{"Idempotency-Key": "urgent-after-0007"}),
        )
        assert response.status_code == 201 and response.json()["escalation_level"] == 2, response.text
        urgent = response.json()["ticket_no"]
        listed = client.get("/v1/tickets?head_escalated=true", headers=headers("agent")).json()["items"]
        assert [item["ticket_no"] for item in listed] == [urgent]

        # back to 0006 and up again: the event stayed, and the column is filled from it
        events = "SELECT count(*) FROM ticket_events WHERE stage = 'urgent_head_escalated'"
        with database.engine.connect() as connection:
            command.downgrade(alembic_config(connection), "0006")
            connection.commit()
            assert current_revisions(connection) == {"0006"}
            assert "head_escalated_at" not in {column["name"] for column in inspect(connection).get_columns("tickets")}
            assert connection.execute(text(events)).scalar_one() == 1
        database.prepare(auto_migrate=True)
        with database.engine.connect() as connection:
            stamped = "SELECT ticket_no FROM tickets WHERE head_escalated_at IS NOT NULL"
            assert connection.execute(text(stamped)).scalars().all() == [urgent]
            assert connection.execute(text(events)).scalar_one() == 1
        again = client.get(f"/v1/tickets/{urgent}", headers=headers("agent")).json()
        assert again["head_escalated_at"] == response.json()["head_escalated_at"] is not None
    finally:
        database.dispose()


def test_revision_0008_adds_the_notification_outbox_without_notifying_earlier_escalations(
    database_url: str, make_client: Callable[..., TestClient]
) -> None:
    database = database_at(database_url, "0007")
    try:
        with database.engine.begin() as connection:
            rows = Rows0001(connection)  # the tables as 0007 has them
            urgent = rows.ticket(1, "in_progress", None, tier="P1", suggested_tier="P1", head_escalated_at=None)
            rows.event(urgent, "urgent_head_escalated", 0, level=2, tier="P1", trigger="intake")
        make_client(database_url=database_url, notify_url="http://127.0.0.1:9/hook", notify_interval_seconds=0)
        with database.engine.connect() as connection:
            assert current_revisions(connection) == {"0008"}
            columns = {column["name"] for column in inspect(connection).get_columns("notifications")}
            assert {"event_id", "state", "attempts", "created_at", "next_attempt_at", "delivered_at"} <= columns
            assert {"last_error", "last_attempt_at"} <= columns
            assert connection.execute(text("SELECT count(*) FROM notifications")).scalar_one() == 0
        with database.engine.begin() as connection:  # one not yet sent: the downgrade drops it
            connection.execute(
                text(
                    "INSERT INTO notifications (event_id, state, attempts, created_at, next_attempt_at) "
                    "SELECT id, 'pending', 0, at, at FROM ticket_events"
                )
            )

        with database.engine.connect() as connection:
            command.downgrade(alembic_config(connection), "0007")
            connection.commit()
            assert current_revisions(connection) == {"0007"}
            assert "notifications" not in inspect(connection).get_table_names()
            assert connection.execute(text("SELECT count(*) FROM ticket_events")).scalar_one() == 1
        database.prepare(auto_migrate=True)
        with database.engine.connect() as connection:
            assert current_revisions(connection) == {"0008"}
            assert "notifications" in inspect(connection).get_table_names()
    finally:
        database.dispose()


def test_workers_starting_at_once_on_an_empty_database_migrate_it_once_and_all_start(database_url: str) -> None:
    # one migrates under the lock (api.db) while the others wait for it, then find the schema current
    import threading

    workers = [Database(database_url) for _ in range(4)]
    failures: list[BaseException] = []
    ready = threading.Barrier(len(workers))

    def start(database: Database) -> None:
        ready.wait()
        try:
            database.prepare(auto_migrate=True)
        except BaseException as error:  # the test reports it below
            failures.append(error)

    threads = [threading.Thread(target=start, args=(database,)) for database in workers]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not any(thread.is_alive() for thread in threads), "a worker is still waiting"
        assert failures == []
        with workers[0].engine.connect() as connection:
            assert current_revisions(connection) == head_revisions()
    finally:
        for database in workers:
            database.dispose()
