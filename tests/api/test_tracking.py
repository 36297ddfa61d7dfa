"""The tracking sheet: stage changes through the state machine, SLA states, and surveys."""

from __future__ import annotations

from typing import Any

import pytest

from api.services.tracking import ALLOWED, STAGES, STATUS_NAMES

from .conftest import Clock, TestClient, create_ticket, headers, read_ticket

# The tracking sheet's rules, written out here rather than read from the code: work stages follow
# one another freely, except that in_progress does not repeat and escalated does not follow
# itself; a ticket is closed only once resolved, and a closed one can only be reopened.
_WORK = {"assigned", "in_progress", "customer_contacted", "escalated", "resolved"}
MAY_FOLLOW = {
    "received": _WORK,
    "assigned": _WORK,
    "in_progress": _WORK - {"in_progress"},
    "customer_contacted": _WORK,
    "escalated": _WORK - {"escalated"},
    "reopened": _WORK,
    "resolved": {"closed", "reopened"},
    "closed": {"reopened"},
}


def post_event(client: TestClient, ticket_no: str, **event: Any) -> Any:
    """Record an event as an agent and return the response."""
    return client.post(f"/v1/tickets/{ticket_no}/events", json=event, headers=headers("agent"))


EVENT_BODIES: dict[str, dict[str, Any]] = {
    "assigned": {"stage": "assigned", "owner": "技术部 王工"},
    "in_progress": {"stage": "in_progress"},
    "customer_contacted": {"stage": "customer_contacted", "note": "已致电客户致歉"},
    "escalated": {"stage": "escalated", "owner": "客服经理"},
    "resolved": {"stage": "resolved", "resolution": "上门更换了热水器"},
    "closed": {"stage": "closed", "feedback": "mostly", "comment": "处理还行"},
    "reopened": {"stage": "reopened", "note": "客户说又漏水了"},
}


def test_a_ticket_is_tracked_to_closure_with_its_full_history(store_client: TestClient, clock: Clock) -> None:
    ticket_no = create_ticket(store_client)["ticket_no"]
    for minutes, stage in ((10, "assigned"), (20, "in_progress"), (15, "customer_contacted"), (60, "resolved")):
        clock.advance(minutes=minutes)
        response = post_event(store_client, ticket_no, **EVENT_BODIES[stage])
        assert response.status_code == 201, response.text
        assert response.json()["status"]["code"] == stage
    clock.advance(hours=2)
    closed = post_event(store_client, ticket_no, **EVENT_BODIES["closed"]).json()
    assert closed["status"] == {"code": "closed", "name": "已闭环"}
    assert closed["owner"] == "技术部 王工"
    history = closed["history"]
    assert [event["stage"] for event in history] == [
        "assigned",
        "in_progress",
        "customer_contacted",
        "resolved",
        "closed",
    ]
    assert [event["from_status"] for event in history] == [
        "received",
        "assigned",
        "in_progress",
        "customer_contacted",
        "resolved",
    ]
    assert all(event["actor"] == "agent-tester" for event in history)
    assert history[0]["at"] == "2026-11-23T10:10:00+08:00"
    assert history[3]["resolution"] == "上门更换了热水器"
    assert history[4]["feedback"] == {"code": "mostly", "name": "基本满意"}
    assert closed["first_response"]["done_at"] == "2026-11-23T10:45:00+08:00"
    assert closed["resolution"]["done_at"] == "2026-11-23T11:45:00+08:00"
    assert closed["resolution"]["state"] == "met" and closed["overdue"] is False


def test_sla_states_met_breached_and_pending(store_client: TestClient, clock: Clock) -> None:
    ticket = create_ticket(store_client, text="外卖里吃出虫子，吃完拉肚子。")  # P1: 1 h / 24 h
    assert ticket["tier"]["code"] == "P1"
    ticket_no = ticket["ticket_no"]
    clock.advance(minutes=90)
    late = store_client.get(f"/v1/tickets/{ticket_no}", headers=headers("agent")).json()
    assert late["first_response"]["state"] == "breached" and late["overdue"] is True
    assert late["resolution"]["state"] == "pending"
    contacted = post_event(store_client, ticket_no, stage="customer_contacted").json()
    assert contacted["first_response"] == {**contacted["first_response"], "state": "breached", "state_name": "超时"}
    assert contacted["overdue"] is False
    clock.advance(hours=2)
    resolved = post_event(store_client, ticket_no, **EVENT_BODIES["resolved"]).json()
    assert resolved["resolution"]["state"] == "met"


def test_reopening_clears_the_resolution(store_client: TestClient, clock: Clock) -> None:
    ticket_no = create_ticket(store_client)["ticket_no"]
    for stage in ("resolved", "closed"):
        assert post_event(store_client, ticket_no, **EVENT_BODIES[stage]).status_code == 201
    reopened = post_event(store_client, ticket_no, **EVENT_BODIES["reopened"]).json()
    assert reopened["status"]["code"] == "reopened"
    assert reopened["resolution"]["done_at"] is None
    assert post_event(store_client, ticket_no, **EVENT_BODIES["assigned"]).status_code == 201


def test_closing_an_unresolved_ticket_is_409_with_the_allowed_stages(store_client: TestClient) -> None:
    ticket_no = create_ticket(store_client)["ticket_no"]
    response = post_event(store_client, ticket_no, **EVENT_BODIES["closed"])
    assert response.status_code == 409
    detail = response.json()["detail"][0]
    assert detail["type"] == "illegal_transition" and detail["loc"] == ["body", "stage"]
    assert detail["allowed"] == ["assigned", "in_progress", "customer_contacted", "escalated", "resolved"]
    history = store_client.get(f"/v1/tickets/{ticket_no}", headers=headers("agent")).json()["history"]
    assert history == []


def test_after_closed_only_reopen_is_allowed(store_client: TestClient) -> None:
    ticket_no = create_ticket(store_client)["ticket_no"]
    for stage in ("resolved", "closed"):
        post_event(store_client, ticket_no, **EVENT_BODIES[stage])
    for stage in STAGES:
        if stage == "reopened":
            continue
        response = post_event(store_client, ticket_no, **EVENT_BODIES[stage])
        assert response.status_code == 409, stage
        assert response.json()["detail"][0]["allowed"] == ["reopened"]


@pytest.mark.parametrize("status", list(ALLOWED))
def test_the_state_machine_allows_exactly_the_listed_stages(client: TestClient, status: str) -> None:
    path = {
        "received": [],
        "assigned": ["assigned"],
        "in_progress": ["in_progress"],
        "customer_contacted": ["customer_contacted"],
        "escalated": ["escalated"],
        "resolved": ["resolved"],
        "closed": ["resolved", "closed"],
        "reopened": ["resolved", "closed", "reopened"],
    }[status]
    for stage in STAGES:
        ticket_no = create_ticket(client)["ticket_no"]
        for step in path:
            assert post_event(client, ticket_no, **EVENT_BODIES[step]).status_code == 201
        if stage == STAGES[0]:  # the ticket says which stages may follow, with their names
            shown = read_ticket(client, ticket_no)["next_stages"]
            assert {item["code"] for item in shown} == MAY_FOLLOW[status]
            assert all(item["name"] == STATUS_NAMES[item["code"]] for item in shown)
        response = post_event(client, ticket_no, **EVENT_BODIES[stage])
        expected = 201 if stage in MAY_FOLLOW[status] else 409
        assert response.status_code == expected, (status, stage, response.text)
    assert {status: set(stages) for status, stages in ALLOWED.items()} == MAY_FOLLOW  # nothing more, nothing less


def test_event_field_errors_name_the_field(client: TestClient) -> None:
    ticket_no = create_ticket(client)["ticket_no"]
    cases = [
        ({"stage": "assigned"}, ["body", "owner"]),
        ({"stage": "resolved", "resolution": "  "}, ["body", "resolution"]),
        ({"stage": "resolved", "resolution": "x" * 4001}, ["body", "resolution"]),
        ({"stage": "closed", "feedback": "happy"}, ["body", "feedback"]),
        ({"stage": "finished"}, ["body", "stage"]),
        ({"owner": "x"}, ["body", "stage"]),
        ({"stage": "in_progress", "owner": "x"}, ["body", "owner"]),
    ]
    for event, loc in cases:
        response = post_event(client, ticket_no, **event)
        assert response.status_code == 422, (event, response.text)
        assert response.json()["detail"][0]["loc"] == loc, event
        if response.json()["detail"][0]["type"] == "string_too_long":  # the limit, for a client to say
            assert response.json()["detail"][0]["max_length"] == 4000
    assert post_event(client, "TS-20990101-000009", stage="in_progress").status_code == 404


def test_free_text_of_events_is_masked(client: TestClient) -> None:
    ticket_no = create_ticket(client)["ticket_no"]
    card = "6222021234567890128"  # passes the Luhn check: a real card number's shape
    post_event(client, ticket_no, stage="customer_contacted", note="客户新号码13987654321")
    post_event(client, ticket_no, stage="resolved", resolution=f"已退款到卡{card}")
    closed = post_event(client, ticket_no, stage="closed", feedback="mostly", comment="以后打13711112222找我").json()
    contacted, resolved, closing = closed["history"]
    assert contacted["note"] == "客户新号码[PHONE]"
    assert resolved["resolution"] == "已退款到卡[BANKCARD]"
    assert closing["comment"] == "以后打[PHONE]找我"
    assert not [secret for secret in ("13987654321", card, "13711112222") if secret in str(closed)]


def test_a_stale_ticket_cannot_be_updated(client: TestClient) -> None:
    from sqlalchemy import select

    from api.errors import Conflict, PreconditionFailed
    from api.schemas import CustomerContactedEvent, InProgressEvent, ResolvedEvent
    from api.services.events import add_event
    from api.tables import Ticket

    from .test_tickets import services_of

    ticket_no = create_ticket(client)["ticket_no"]
    database = services_of(client).database
    assert database is not None
    with database.session() as first, database.session() as second:
        mine = first.scalar(select(Ticket).where(Ticket.ticket_no == ticket_no))
        theirs = second.scalar(select(Ticket).where(Ticket.ticket_no == ticket_no))
        assert mine is not None and theirs is not None
        add_event(first, ticket=mine, event=InProgressEvent(stage="in_progress"), actor="a", now=mine.received_at)
        with pytest.raises(Conflict) as error:
            add_event(
                second,
                ticket=theirs,
                event=ResolvedEvent(stage="resolved", resolution="done"),
                actor="b",
                now=theirs.received_at,
            )
        assert error.value.type == "concurrent_update"
    history = client.get(f"/v1/tickets/{ticket_no}", headers=headers("agent")).json()["history"]
    assert [event["stage"] for event in history] == ["in_progress"]

    # The same race when the loser named the revision it read (If-Match, checked before the
    # winner committed): the 412 a later request with that If-Match gets, not a 409.
    with database.session() as first, database.session() as second:
        mine = first.scalar(select(Ticket).where(Ticket.ticket_no == ticket_no))
        theirs = second.scalar(select(Ticket).where(Ticket.ticket_no == ticket_no))
        assert mine is not None and theirs is not None
        seen = f'"{theirs.revision}"'
        contacted = CustomerContactedEvent(stage="customer_contacted")
        add_event(first, ticket=mine, event=contacted, actor="a", now=mine.received_at)
        with pytest.raises(PreconditionFailed) as changed:
            resolved = ResolvedEvent(stage="resolved", resolution="done")
            add_event(second, ticket=theirs, event=resolved, actor="b", now=theirs.received_at, if_match=seen)
        assert changed.value.status_code == 412 and changed.value.type == "ticket_changed"
    history = client.get(f"/v1/tickets/{ticket_no}", headers=headers("agent")).json()["history"]
    assert [event["stage"] for event in history] == ["in_progress", "customer_contacted"]


SURVEY = {"timeliness": 5, "effectiveness": 4, "attitude": 5, "overall": 4}


def closed_ticket(client: TestClient) -> str:
    """A ticket that was resolved and closed."""
    ticket_no = create_ticket(client)["ticket_no"]
    for stage in ("resolved", "closed"):
        assert post_event(client, ticket_no, **EVENT_BODIES[stage]).status_code == 201
    return ticket_no


def test_a_closed_ticket_gets_one_survey(store_client: TestClient) -> None:
    ticket_no = closed_ticket(store_client)
    body = {
        **SURVEY,
        "method": "phone",
        "best_aspects": ["attitude"],
        "improve_aspects": ["response_speed"],
        "comment": "师傅很专业，电话13812345678",
    }
    response = store_client.post(f"/v1/tickets/{ticket_no}/survey", json=body, headers=headers("agent"))
    assert response.status_code == 201, response.text
    survey = response.json()
    assert survey["average"] == 4.5 and survey["method"] == {"code": "phone", "name": "电话回访"}
    assert survey["best_aspects"] == [{"code": "attitude", "name": "服务态度"}]
    assert "13812345678" not in survey["comment"]
    again = store_client.post(f"/v1/tickets/{ticket_no}/survey", json=SURVEY, headers=headers("intake"))
    assert again.status_code == 409 and again.json()["detail"][0]["type"] == "survey_exists"
    shown = store_client.get(f"/v1/tickets/{ticket_no}", headers=headers("analyst")).json()
    assert shown["survey"]["overall"] == 4


def test_a_survey_needs_a_closed_ticket(store_client: TestClient) -> None:
    ticket_no = create_ticket(store_client)["ticket_no"]
    response = store_client.post(f"/v1/tickets/{ticket_no}/survey", json=SURVEY, headers=headers("agent"))
    assert response.status_code == 409 and response.json()["detail"][0]["type"] == "ticket_not_closed"
    missing = store_client.post("/v1/tickets/TS-20990101-000001/survey", json=SURVEY, headers=headers("agent"))
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"timeliness": 0}, "timeliness"),
        ({"effectiveness": 6}, "effectiveness"),
        ({"attitude": 3.5}, "attitude"),
        ({"overall": "5"}, "overall"),
        ({"overall": None}, "overall"),
        ({"method": "pigeon"}, "method"),
        ({"comment": "x" * 2001}, "comment"),
    ],
)
def test_survey_values_out_of_range_are_422(client: TestClient, change: dict[str, Any], field: str) -> None:
    ticket_no = closed_ticket(client)
    response = client.post(f"/v1/tickets/{ticket_no}/survey", json={**SURVEY, **change}, headers=headers("agent"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][:2] == ["body", field]


def test_the_status_type_of_the_api_lists_every_status_of_the_state_machine() -> None:
    from typing import get_args

    from api.schemas import TicketStatus

    assert list(get_args(TicketStatus)) == list(STATUS_NAMES)


def test_closing_over_the_customers_not_satisfied_needs_a_note(client: TestClient) -> None:
    ticket_no = create_ticket(client)["ticket_no"]
    assert post_event(client, ticket_no, stage="resolved", resolution="已补发").status_code == 201
    # the customer's words are no reason, nor is a note with nothing visible in it
    for fields in ({}, {"comment": "客户说还是没解决"}, {"note": "\u200b"}, {"note": " \ufeff "}):
        refused = post_event(client, ticket_no, stage="closed", feedback="not", **fields)
        assert refused.status_code == 422, refused.text
        [detail] = refused.json()["detail"]
        assert detail["loc"] == ["body", "note"] and detail["type"] == "note_required"
    ticket = client.get(f"/v1/tickets/{ticket_no}", headers=headers("agent")).json()
    assert ticket["status"]["code"] == "resolved" and len(ticket["history"]) == 1  # nothing recorded
    reason = "主管决定：已按政策全额退款，客户仍要求额外赔偿"
    closed = post_event(client, ticket_no, stage="closed", feedback="not", note=reason)
    assert closed.status_code == 201, closed.text
    closing = closed.json()["history"][-1]
    assert closing["feedback"] == {"code": "not", "name": "不满意"}
    assert closing["note"] == reason
