"""Urgent complaints to the department head at once (practice document 003: 紧急投诉需第一时间升级至部门
负责人（如客服经理）协调处理): a ticket filed with a tier of the escalation policy's `head_at_intake`
(P1 by default), or given one by a review, is escalated to the department head once, in the same
transaction, and shows it (fields, filter, history, metrics, export).

The app's clock is the test's `Clock` (2026-11-23 10:00 in Shanghai); `COMPLAINT` is P2, `URGENT`
is P1 (the safety rule: 漏电).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from api.cli import app as cli
from api.services.escalation import EscalationConfigError, parse_policy
from api.settings import DEFAULT_ESCALATION
from model.taxonomy import Taxonomy
from training.monthly import EXPORT_COLUMNS, ExportError, read_export, summarise

from .conftest import Clock, TestClient, create_ticket, headers, read_csv, read_ticket, write_csv

URGENT = "买的热水器用了两天就漏电，差点出事，要求上门检修。"
runner = CliRunner()


def urgent_events(ticket: dict[str, Any]) -> list[dict[str, Any]]:
    """The ticket's urgent escalations to the department head."""
    return [event for event in ticket["history"] if event["stage"] == "urgent_head_escalated"]


def listed(client: TestClient, query: str) -> list[str]:
    response = client.get(f"/v1/tickets?{query}", headers=headers("agent"))
    assert response.status_code == 200, response.text
    return [item["ticket_no"] for item in response.json()["items"]]


def review(client: TestClient, ticket_no: str, **body: Any) -> dict[str, Any]:
    response = client.post(f"/v1/tickets/{ticket_no}/review", json=body, headers=headers("agent"))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def metric(client: TestClient, name: str) -> dict[str, float]:
    """Samples of a metric by their label text (`tier="P1",trigger="intake"`)."""
    samples = {}
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + "{"):
            labels, value = line[len(name) + 1 :].rsplit("} ", 1)
            samples[labels] = float(value)
    return samples


def policy_file(tmp_path: Path, head_at_intake: Any) -> Path:
    """The default escalation file with another `head_at_intake`."""
    raw = yaml.safe_load(DEFAULT_ESCALATION.read_text(encoding="utf-8"))
    raw["head_at_intake"] = head_at_intake
    path = tmp_path / "escalation.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def test_an_urgent_ticket_goes_to_the_department_head_when_filed_once(store_client: TestClient) -> None:
    key = uuid.uuid4().hex
    created = store_client.post(
        "/v1/tickets", json={"text": URGENT, "channel": "phone"}, headers=headers("intake", **{"Idempotency-Key": key})
    )
    assert created.status_code == 201, created.text
    ticket = created.json()
    number = ticket["ticket_no"]
    assert ticket["tier"]["code"] == "P1" and ticket["escalation_rule"] == "safety_health"
    assert ticket["head_escalated_at"] == ticket["received_at"] == "2026-11-23T10:00:00+08:00"
    assert (ticket["escalation_level"], ticket["escalation_level_name"]) == (2, "部门负责人")
    # no deadline was escalated: the per-deadline fields say so
    assert ticket["escalated_at"] is None
    assert [ticket[kind]["head_escalated_at"] for kind in ("first_response", "resolution")] == [None, None]
    (event,) = ticket["history"]
    assert event["stage"] == "urgent_head_escalated" and event["stage_name"] == "紧急投诉升级至部门负责人"
    assert (event["actor"], event["level"], event["trigger"], event["reviewed_by"]) == (
        "intake-policy",
        2,
        "intake",
        None,
    )
    assert event["at"] == ticket["received_at"] and event["from_status"] == "received"
    assert "部门负责人" in event["note"] and event["deadline"] is None
    assert ticket["status"]["code"] == "received" and ticket["owner"] is None  # the status stays

    # a replay gives the same ticket and adds nothing; the creation set the revision once
    replay = store_client.post(
        "/v1/tickets", json={"text": URGENT, "channel": "phone"}, headers=headers("intake", **{"Idempotency-Key": key})
    )
    assert replay.status_code == 200 and replay.json()["ticket_no"] == number
    assert replay.headers["ETag"] == created.headers["ETag"] == '"1"'
    shown = read_ticket(store_client, number)
    assert len(urgent_events(shown)) == 1 and shown["head_escalated_at"] == ticket["head_escalated_at"]

    plain = create_ticket(store_client)  # P2: not escalated
    assert plain["tier"]["code"] == "P2" and plain["head_escalated_at"] is None
    assert (plain["escalation_level"], plain["history"]) == (0, [])

    # "the department head was told", by either route; `escalated` stays about deadlines
    assert listed(store_client, "head_escalated=true") == [number]
    assert listed(store_client, "head_escalated=false") == [plain["ticket_no"]]
    assert listed(store_client, "escalated=true") == []
    (item,) = store_client.get("/v1/tickets?head_escalated=true", headers=headers("agent")).json()["items"]
    assert item["head_escalated_at"] == ticket["head_escalated_at"] and item["escalation_level"] == 2

    assert metric(store_client, "triage_intake_head_escalations_total") == {'tier="P1",trigger="intake"': 1.0}
    gauge = metric(store_client, "triage_open_escalated_tickets")
    assert gauge['level="2",tier="P1"'] == 1.0 and gauge['level="1",tier="P1"'] == 0.0
    assert gauge['level="2",tier="P2"'] == 0.0
    assert metric(store_client, "triage_deadline_escalations_total") == {}  # no deadline escalated


def test_a_review_that_makes_a_ticket_urgent_escalates_it_once_and_lowering_keeps_it(
    store_client: TestClient, clock: Clock
) -> None:
    number = create_ticket(store_client)["ticket_no"]  # P2
    clock.advance(minutes=10)
    before = store_client.get(f"/v1/tickets/{number}", headers=headers("agent")).headers["ETag"]
    raised = store_client.post(
        f"/v1/tickets/{number}/review", json={"action": "correct", "tier": "P1"}, headers=headers("agent")
    )
    assert raised.status_code == 200, raised.text
    ticket = raised.json()
    assert ticket["head_escalated_at"] == "2026-11-23T10:10:00+08:00" and ticket["escalation_level"] == 2
    assert [event["stage"] for event in ticket["history"]] == ["reviewed", "urgent_head_escalated"]
    event = ticket["history"][-1]
    assert (event["actor"], event["trigger"], event["reviewed_by"], event["level"]) == (
        "intake-policy",
        "review",
        "agent-tester",
        2,
    )
    assert event["at"] == ticket["history"][0]["at"] == ticket["head_escalated_at"]
    # one change of the ticket: its revision went up once, as with any review
    assert raised.headers["ETag"] == f'"{int(before.strip(chr(34))) + 1}"'
    assert listed(store_client, "head_escalated=true") == [number]

    clock.advance(minutes=10)
    accepted = review(store_client, number, action="accept")  # still P1: not again
    assert len(urgent_events(accepted)) == 1 and accepted["head_escalated_at"] == ticket["head_escalated_at"]
    lowered = review(store_client, number, action="correct", tier="P3", comment="客户只是咨询")
    assert lowered["tier"]["code"] == "P3" and lowered["head_escalated_at"] == ticket["head_escalated_at"]
    assert lowered["escalation_level"] == 2  # the head was told: that stays, like the deadlines' stamps
    raised_again = review(store_client, number, action="correct", tier="P1")
    assert len(urgent_events(raised_again)) == 1 and raised_again["head_escalated_at"] == ticket["head_escalated_at"]
    assert metric(store_client, "triage_intake_head_escalations_total") == {'tier="P1",trigger="review"': 1.0}

    # a ticket filed urgent is not escalated again by a review that keeps it urgent
    urgent = create_ticket(store_client, text=URGENT, customer_id="C-2002")["ticket_no"]
    assert len(urgent_events(review(store_client, urgent, action="accept"))) == 1


def test_the_deadline_sweep_still_escalates_an_urgent_tickets_deadlines(client: TestClient, clock: Clock) -> None:
    from api.services.deadline_escalation import sweep_deadlines

    number = create_ticket(client, text=URGENT)["ticket_no"]  # P1: first response due at 11:00
    clock.advance(minutes=61)
    with client.app.state.services.database.session() as session:  # type: ignore[attr-defined]
        done = sweep_deadlines(session, now=clock.now, share=0.2)
    assert [(item.deadline, item.level) for item in done] == [("first_response", 1), ("first_response", 2)]
    ticket = read_ticket(client, number)
    assert [event["stage"] for event in ticket["history"]] == [
        "urgent_head_escalated",
        "deadline_escalated",
        "deadline_head_escalated",
    ]
    assert ticket["escalation_level"] == 2 and ticket["head_escalated_at"] == "2026-11-23T10:00:00+08:00"
    assert listed(client, "escalated=true") == [number]


def test_an_empty_head_at_intake_turns_it_off(make_client: Callable[..., TestClient], tmp_path: Path) -> None:
    client = make_client(escalation_rules=policy_file(tmp_path, []))
    ticket = create_ticket(client, text=URGENT)
    assert ticket["tier"]["code"] == "P1" and ticket["head_escalated_at"] is None
    assert (ticket["escalation_level"], ticket["history"]) == (0, [])
    plain = create_ticket(client, customer_id="C-2002")["ticket_no"]
    reviewed = review(client, plain, action="correct", tier="P1")
    assert reviewed["head_escalated_at"] is None and urgent_events(reviewed) == []
    assert listed(client, "head_escalated=true") == []
    assert metric(client, "triage_intake_head_escalations_total") == {}
    assert client.get("/v1/model", headers=headers("agent")).json()["escalation"]["head_at_intake"] == []


def test_head_at_intake_may_name_other_tiers(make_client: Callable[..., TestClient], tmp_path: Path) -> None:
    client = make_client(escalation_rules=policy_file(tmp_path, ["P1", "P2"]))
    assert create_ticket(client)["escalation_level"] == 2  # P2 now too
    assert client.get("/v1/model", headers=headers("agent")).json()["escalation"]["head_at_intake"] == ["P1", "P2"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["P0"], "escalation.yaml, head_at_intake[0]: tier 'P0' is not one of P1, P2, P3"),
        (["P1", "p2"], "escalation.yaml, head_at_intake[1]: tier 'p2' is not one of P1, P2, P3"),
        (["P1", "P1"], "escalation.yaml, head_at_intake[1]: tier 'P1' is listed twice"),
        ("P1", "escalation.yaml: 'head_at_intake' must be a list of tier codes, got 'P1'"),
        (None, "escalation.yaml: 'head_at_intake' must be a list of tier codes, got None"),
        ([{"tier": "P1"}], "escalation.yaml, head_at_intake[0]: tier {'tier': 'P1'} is not one of P1, P2, P3"),
    ],
)
def test_a_bad_head_at_intake_is_a_clear_error(taxonomy: Taxonomy, value: Any, message: str) -> None:
    raw = yaml.safe_load(DEFAULT_ESCALATION.read_text(encoding="utf-8"))
    raw["head_at_intake"] = value
    with pytest.raises(EscalationConfigError) as error:
        parse_policy(raw, taxonomy, "escalation.yaml")
    assert str(error.value) == message


def test_a_missing_head_at_intake_is_a_clear_error(taxonomy: Taxonomy) -> None:
    raw = yaml.safe_load(DEFAULT_ESCALATION.read_text(encoding="utf-8"))
    del raw["head_at_intake"]
    with pytest.raises(EscalationConfigError, match=r"^escalation.yaml: missing 'head_at_intake' \(the tiers"):
        parse_policy(raw, taxonomy, "escalation.yaml")


def test_a_bad_tier_in_head_at_intake_stops_the_start_naming_the_file(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    path = policy_file(tmp_path, ["P1", "urgent"])
    with pytest.raises(EscalationConfigError) as error:
        make_client(escalation_rules=path)
    assert str(error.value) == f"{path}, head_at_intake[1]: tier 'urgent' is not one of P1, P2, P3"


def test_the_default_policy_escalates_p1_quoting_practice_003(taxonomy: Taxonomy) -> None:
    text = DEFAULT_ESCALATION.read_text(encoding="utf-8")
    assert "紧急投诉需第一时间升级至" in text
    assert parse_policy(yaml.safe_load(text), taxonomy).head_at_intake == {"P1"}


def test_the_export_says_when_a_ticket_went_to_the_head_as_urgent(
    database_url: str, make_client: Callable[..., TestClient], clock: Clock, tmp_path: Path
) -> None:
    client = make_client(database_url=database_url)
    urgent = create_ticket(client, text=URGENT)["ticket_no"]
    plain = create_ticket(client, customer_id="C-2002")["ticket_no"]
    clock.advance(minutes=5)
    raised = create_ticket(client, customer_id="C-3003")["ticket_no"]
    clock.advance(minutes=5)
    review(client, raised, action="correct", tier="P1")

    out = tmp_path / "all.csv"
    made = runner.invoke(
        cli,
        ["export", "--since", "2026-11-23", "--until", "2026-11-23", "--out", str(out), "--all"]
        + ["--database-url", database_url],
    )
    assert made.exit_code == 0, made.output
    header, rows = read_csv(out)
    assert tuple(header) == EXPORT_COLUMNS and header[-1] == "head_escalated_at"
    assert {row["ticket_no"]: row["head_escalated_at"] for row in rows} == {
        urgent: "2026-11-23T10:00:00+08:00",
        plain: "",
        raised: "2026-11-23T10:10:00+08:00",
    }
    exported = read_export(out)
    # the deadline figures stay about deadlines: none was escalated
    assert summarise(exported)["deadline_escalation_rate"] == 0.0
    # an export of an earlier release, without the column, is read: its rows do not get it
    older = read_export(write_csv(tmp_path / "older.csv", header[:-1], rows))
    assert all("head_escalated_at" not in row for row in older)
    assert summarise(exported)["urgent_head_escalations"] == 2
    assert summarise(older) == {**summarise(exported), "urgent_head_escalations": None}  # unavailable, not 0
    # the report checks the column: a time, or empty
    broken = [{**row, "head_escalated_at": "yesterday"} if row["ticket_no"] == urgent else row for row in rows]
    with pytest.raises(ExportError, match=r"row 2, column head_escalated_at: 'yesterday' is not an ISO time"):
        read_export(write_csv(tmp_path / "broken.csv", header, broken))
    early = [
        {**row, "head_escalated_at": "2026-11-22T10:00:00+08:00"} if row["ticket_no"] == urgent else row for row in rows
    ]
    with pytest.raises(ExportError, match=r"row 2, column head_escalated_at: .* is before created_at"):
        read_export(write_csv(tmp_path / "early.csv", header, early))
