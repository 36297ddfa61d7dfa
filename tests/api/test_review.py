"""Agents' review of tickets (accept, correct, re-review) and the review queue, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from .conftest import Clock, TestClient, create_ticket, headers, read_ticket

# A clear late-delivery complaint and texts of other subtypes, for the queue's confidence order.
LATE = "快递显示已发货五天了还没送到，物流信息一直不更新，要求尽快送达。"
QUEUE_TEXTS = [
    LATE,
    "客服态度非常差，说话很不耐烦，还直接挂我电话。",
    "买的耳机用了两天就没声音了，质量太差。",
    "东西不好。",
    "收到的杯子有裂痕，包装也破了。",
]


def review(client: TestClient, ticket_no: str, role: str = "agent", **body: Any) -> Any:
    """POST a review and return the response."""
    return client.post(f"/v1/tickets/{ticket_no}/review", json=body, headers=headers(role))


def test_accept_confirms_the_shown_labels_and_keeps_the_suggestion(store_client: TestClient, clock: Clock) -> None:
    ticket = create_ticket(store_client, text=LATE)
    clock.advance(minutes=5)
    response = review(store_client, ticket["ticket_no"], action="accept")
    assert response.status_code == 200, response.text
    reviewed = response.json()
    assert reviewed == read_ticket(store_client, ticket["ticket_no"])  # the same view as GET
    final = reviewed["review"]
    for head in ("category", "subtype", "tier", "demand"):
        assert final[head]["code"] == ticket[head]["code"] == reviewed[head]["code"]
    assert final["action"] == "accept" and final["tier_downgrade"] is False
    assert final["reviewed_by"] == "agent-tester" and final["reviewed_at"] == "2026-11-23T10:05:00+08:00"
    assert reviewed["suggestion"] == ticket["suggestion"]
    assert reviewed["status"]["code"] == "received"  # a review is not a stage change
    [event] = reviewed["history"]
    assert event["stage"] == "reviewed" and event["stage_name"] == "已审核" and event["action"] == "accept"
    assert event["before"] == event["after"] and event["after"]["subtype"] == ticket["subtype"]["code"]
    assert event["actor"] == "agent-tester" and event["from_status"] == "received"


def test_a_corrected_subtype_brings_its_category_and_department(store_client: TestClient) -> None:
    ticket = create_ticket(store_client, text=LATE)
    response = review(store_client, ticket["ticket_no"], action="correct", subtype="attitude", comment="骑手态度差")
    assert response.status_code == 200, response.text
    reviewed = response.json()
    assert reviewed["category"] == {"code": "service", "name": "服务问题"}
    assert reviewed["subtype"]["code"] == "attitude" and reviewed["department"] == {"code": "cs", "name": "客服部"}
    assert reviewed["review"]["category"]["code"] == "service" and reviewed["review"]["subtype"]["code"] == "attitude"
    assert reviewed["review"]["tier"]["code"] == ticket["tier"]["code"]  # untouched heads keep their value
    assert reviewed["review"]["comment"] == "骑手态度差" and reviewed["review"]["action"] == "correct"
    assert reviewed["suggestion"]["subtype"]["code"] == ticket["suggestion"]["subtype"]["code"]
    assert reviewed["first_response_due"] == ticket["first_response_due"]  # same tier: same due times
    event = reviewed["history"][-1]
    assert event["before"]["department"] == ticket["department"]["code"] and event["after"]["department"] == "cs"


def test_a_tier_upgrade_recomputes_the_due_times_from_the_received_time(store_client: TestClient, clock: Clock) -> None:
    ticket = create_ticket(store_client, text=LATE)
    received = datetime.fromisoformat(ticket["received_at"])
    clock.advance(hours=3)
    reviewed = review(store_client, ticket["ticket_no"], action="correct", tier="P1").json()
    assert reviewed["tier"]["code"] == "P1" and reviewed["review"]["tier"]["code"] == "P1"
    assert datetime.fromisoformat(reviewed["first_response_due"]) == received + timedelta(hours=1)
    assert datetime.fromisoformat(reviewed["resolution_due"]) == received + timedelta(hours=24)
    assert reviewed["first_response"]["state"] == "breached"  # due 1 h after receipt, now 3 h after
    assert reviewed["review"]["tier_downgrade"] is False


def test_a_tier_downgrade_needs_a_comment_and_is_recorded(store_client: TestClient) -> None:
    ticket = create_ticket(store_client, text="吃了你们的外卖拉肚子进了医院，我要投诉到12315！")
    assert ticket["tier"]["code"] == "P1"
    for comment in (None, "  ", "\u200b\u200d\ufeff"):  # nothing visible is no comment
        refused = review(store_client, ticket["ticket_no"], action="correct", tier="P3", comment=comment)
        assert refused.status_code == 422
        detail = refused.json()["detail"][0]
        assert detail["loc"] == ["body", "comment"] and detail["type"] == "comment_required"
        assert "P1" in detail["msg"] and "P3" in detail["msg"]
    unchanged = read_ticket(store_client, ticket["ticket_no"])
    assert unchanged["review"] is None and unchanged["tier"]["code"] == "P1"
    assert [event["stage"] for event in unchanged["history"]] == ["urgent_head_escalated"]  # at intake only
    done = review(
        store_client, ticket["ticket_no"], action="correct", tier="P3", comment="客户只是咨询，电话13812345678"
    )
    assert done.status_code == 200, done.text
    reviewed = done.json()
    assert reviewed["review"]["tier_downgrade"] is True and reviewed["history"][-1]["tier_downgrade"] is True
    assert reviewed["review"]["comment"] == "客户只是咨询，电话[PHONE]"  # masked
    received = datetime.fromisoformat(ticket["received_at"])
    assert datetime.fromisoformat(reviewed["resolution_due"]) == received + timedelta(hours=72)


def test_a_re_review_wins_and_every_review_stays_in_the_history(store_client: TestClient, clock: Clock) -> None:
    ticket = create_ticket(store_client, text=LATE)
    assert review(store_client, ticket["ticket_no"], action="correct", subtype="courier_service").status_code == 200
    clock.advance(minutes=1)
    second = review(
        store_client, ticket["ticket_no"], "admin", action="correct", subtype="late_delivery", demand="refund"
    )
    assert second.status_code == 200, second.text
    reviewed = second.json()
    assert reviewed["review"]["subtype"]["code"] == "late_delivery" and reviewed["review"]["demand"]["code"] == "refund"
    assert reviewed["review"]["reviewed_by"] == "admin-tester"
    first_event, second_event = reviewed["history"]
    assert first_event["after"]["subtype"] == "courier_service" == second_event["before"]["subtype"]
    assert second_event["after"]["subtype"] == "late_delivery" and second_event["actor"] == "admin-tester"


@pytest.mark.parametrize(
    ("body", "field", "kind"),
    [
        ({"action": "correct", "category": "product", "subtype": "attitude"}, "subtype", "subtype_not_in_category"),
        ({"action": "correct", "category": "service"}, "subtype", "subtype_required"),
        ({"action": "correct", "subtype": "late"}, "subtype", "unknown_code"),
        ({"action": "correct", "category": "food"}, "category", "unknown_code"),
        ({"action": "correct", "tier": "P9"}, "tier", "unknown_code"),
        ({"action": "correct", "demand": "cash"}, "demand", "unknown_code"),
        ({"action": "accept", "tier": "P1"}, "tier", "unexpected_label"),
        ({"action": "correct", "comment": "无"}, None, "missing_correction"),
        ({"action": "approve"}, "action", "literal_error"),
        ({}, "action", "missing"),
        ({"action": "accept", "reason": "x"}, "reason", "extra_forbidden"),
        ({"action": "correct", "tier": "P1" * 30}, "tier", "string_too_long"),
        ({"action": "correct", "subtype": ""}, "subtype", "value_error"),
        ({"action": "correct", "tier": "  "}, "tier", "value_error"),
    ],
)
def test_bad_reviews_are_422_naming_the_field_and_write_nothing(
    client: TestClient, body: dict[str, Any], field: str | None, kind: str
) -> None:
    ticket = create_ticket(client, text=LATE)
    response = review(client, ticket["ticket_no"], **body)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"][0]
    assert detail["loc"] == (["body", field] if field else ["body"]) and detail["type"] == kind
    if kind in ("unknown_code", "subtype_not_in_category", "subtype_required"):
        assert detail["allowed"] and all(code in detail["msg"] for code in detail["allowed"])
    if kind == "string_too_long":
        assert detail["max_length"] == 40
    assert read_ticket(client, ticket["ticket_no"])["history"] == []


def test_a_category_with_a_single_subtype_needs_no_subtype(client: TestClient) -> None:
    ticket = create_ticket(client, text=LATE)
    reviewed = review(client, ticket["ticket_no"], action="correct", category="other").json()
    assert reviewed["subtype"]["code"] == "other" and reviewed["category"]["code"] == "other"


def test_a_review_or_event_based_on_a_stale_read_is_412_and_changes_nothing(store_client: TestClient) -> None:
    ticket_no = create_ticket(store_client, text=LATE)["ticket_no"]
    read_by_first = store_client.get(f"/v1/tickets/{ticket_no}", headers=headers("agent"))
    seen = read_by_first.headers["ETag"]
    # a second agent corrects the ticket meanwhile
    assert review(store_client, ticket_no, action="correct", tier="P1").status_code == 200
    stale = store_client.post(
        f"/v1/tickets/{ticket_no}/review", json={"action": "accept"}, headers=headers("agent", **{"If-Match": seen})
    )
    assert stale.status_code == 412, stale.text
    problem = stale.json()["detail"][0]
    assert problem["type"] == "ticket_changed" and problem["loc"] == ["header", "If-Match"]
    event = {"stage": "assigned", "owner": "王工"}
    stale_event = store_client.post(
        f"/v1/tickets/{ticket_no}/events", json=event, headers=headers("agent", **{"If-Match": seen})
    )
    assert stale_event.status_code == 412
    after = store_client.get(f"/v1/tickets/{ticket_no}", headers=headers("agent"))
    # the review, and the escalation to the department head its P1 made
    assert after.json()["status"]["code"] == "received" and len(after.json()["history"]) == 2
    current = after.headers["ETag"]
    assert current != seen and current == problem["current"]
    accepted = store_client.post(
        f"/v1/tickets/{ticket_no}/review", json={"action": "accept"}, headers=headers("agent", **{"If-Match": current})
    )
    assert accepted.status_code == 200 and accepted.headers["ETag"] not in (seen, current)
    assert accepted.json()["tier"]["code"] == "P1"
    now = accepted.headers["ETag"]
    # strong comparison: a weak tag never matches; a header that is no entity tag is a 422
    for if_match, status in ((f"W/{now}", 412), (f'"0", {now}', 201), (now.strip('"'), 422), ('"0", *', 422)):
        response = store_client.post(
            f"/v1/tickets/{ticket_no}/events",
            json={"stage": "assigned", "owner": "王工"},
            headers=headers("agent", **{"If-Match": if_match}),
        )
        assert response.status_code == status, (if_match, response.text)
        if status == 201:
            now = response.headers["ETag"]
    # the same list on two header lines (RFC 9110: they combine): the second line matches
    lines = [*headers("agent").items(), ("If-Match", '"0"'), ("If-Match", now)]
    two_lines = store_client.post(f"/v1/tickets/{ticket_no}/events", json=event, headers=lines)
    assert two_lines.status_code == 201, two_lines.text
    stale_lines = [*headers("agent").items(), ("If-Match", '"0"'), ("If-Match", now)]  # now stale
    assert (
        store_client.post(f"/v1/tickets/{ticket_no}/review", json={"action": "accept"}, headers=stale_lines).status_code
        == 412
    )


def test_a_closed_ticket_is_not_reviewed_until_it_is_reopened(store_client: TestClient) -> None:
    ticket_no = create_ticket(store_client, text=LATE)["ticket_no"]
    for event in (
        {"stage": "resolved", "resolution": "已补发"},
        {"stage": "closed", "feedback": "satisfied"},
    ):
        assert store_client.post(f"/v1/tickets/{ticket_no}/events", json=event, headers=headers("agent")).is_success
    before = read_ticket(store_client, ticket_no)
    response = review(store_client, ticket_no, action="correct", tier="P1")
    assert response.status_code == 409 and response.json()["detail"][0]["type"] == "ticket_closed"
    after = read_ticket(store_client, ticket_no)
    assert after["tier"] == before["tier"] and after["resolution"] == before["resolution"]
    reopen = {"stage": "reopened", "note": "标签有误"}
    assert store_client.post(f"/v1/tickets/{ticket_no}/events", json=reopen, headers=headers("agent")).is_success
    assert review(store_client, ticket_no, action="correct", tier="P1").status_code == 200


def test_reviewing_an_unknown_ticket_is_404(client: TestClient) -> None:
    response = review(client, "TS-20260101-999999", action="accept")
    assert response.status_code == 404 and response.json()["detail"][0]["loc"] == ["path", "ticket_no"]


def _fill_queue(client: TestClient, clock: Clock) -> list[dict[str, Any]]:
    tickets = []
    for text in QUEUE_TEXTS * 2:
        tickets.append(create_ticket(client, text=text))
        clock.advance(minutes=1)
    return tickets


def _confidence(ticket: dict[str, Any]) -> float:
    suggestion = ticket["suggestion"]
    return float(min(suggestion[head]["probability"] for head in ("category", "subtype", "tier")))


def test_the_queue_lists_unreviewed_flagged_tickets_least_confident_then_oldest_first(
    make_client: Callable[..., TestClient], database_url: str, clock: Clock
) -> None:
    # thresholds above every probability: every ticket needs review
    client = make_client(database_url=database_url, threshold_category=1.0, threshold_subtype=1.0, threshold_tier=1.0)
    tickets = _fill_queue(client, clock)
    assert all(ticket["needs_review"] for ticket in tickets)
    reviewed_no = tickets[0]["ticket_no"]
    assert review(client, reviewed_no, action="accept").status_code == 200
    pending = [ticket for ticket in tickets if ticket["ticket_no"] != reviewed_no]
    expected = [t["ticket_no"] for t in sorted(pending, key=lambda t: (_confidence(t), t["received_at"]))]
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = "/v1/review-queue?limit=4" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(query, headers=headers("agent"))
        assert page.status_code == 200, page.text
        seen += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            break
    assert [item["ticket_no"] for item in seen] == expected
    item = seen[0]
    source = next(t for t in tickets if t["ticket_no"] == item["ticket_no"])
    assert item["confidence"] == pytest.approx(_confidence(source))
    assert item["subtype"] == source["suggestion"]["subtype"] and item["tier"] == source["suggestion"]["tier"]
    assert item["routed_tier"] == source["tier"] and item["department"] == source["department"]
    assert item["text"] == source["text"] and item["status"]["code"] == "received"
    assert (
        item["first_response_due"] == source["first_response_due"] and "low_confidence:tier" in item["review_reasons"]
    )
    # the deadlines as the ticket and the list show them (due, warn_at, done_at, escalated_at, state)
    assert item["first_response"] == source["first_response"] and item["resolution"] == source["resolution"]
    assert (item["escalation_level"], item["escalated_at"]) == (source["escalation_level"], source["escalated_at"])


def test_auto_filled_tickets_are_not_queued_and_bad_cursors_are_422(make_client: Callable[..., TestClient]) -> None:
    client = make_client(threshold_category=0.0, threshold_subtype=0.0, threshold_tier=0.0)
    create_ticket(client, text=LATE)
    assert client.get("/v1/review-queue", headers=headers("agent")).json() == {"items": [], "next_cursor": None}
    huge = base64.urlsafe_b64encode(
        json.dumps({"v": 1, "c": 10**400, "at": "2026-11-23T00:00:00+00:00", "id": 1}).encode()
    )
    for cursor in ("not-a-cursor", huge.decode()):
        bad = client.get(f"/v1/review-queue?cursor={cursor}", headers=headers("agent"))
        assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "cursor"]
    assert client.get("/v1/review-queue?limit=0", headers=headers("agent")).status_code == 422
    assert client.get("/v1/review-queue", headers=headers("analyst")).status_code == 403


def test_a_long_text_is_cut_in_the_queue(make_client: Callable[..., TestClient]) -> None:
    client = make_client(threshold_category=1.0)
    create_ticket(client, text="快递一直没送到，" * 60)
    [item] = client.get("/v1/review-queue", headers=headers("agent")).json()["items"]
    assert len(item["text"]) == 200 and item["text"].endswith("…")


def test_a_closed_ticket_leaves_the_queue_until_it_is_reopened(
    make_client: Callable[..., TestClient], database_url: str
) -> None:
    client = make_client(database_url=database_url, threshold_category=1.0, threshold_subtype=1.0, threshold_tier=1.0)
    closing, waiting = create_ticket(client, text=LATE), create_ticket(client, text=QUEUE_TEXTS[1])

    def queued() -> set[str]:
        return {item["ticket_no"] for item in client.get("/v1/review-queue", headers=headers("agent")).json()["items"]}

    def stage(stage: str, **fields: str) -> None:
        path = f"/v1/tickets/{closing['ticket_no']}/events"
        response = client.post(path, json={"stage": stage, **fields}, headers=headers("agent"))
        assert response.status_code == 201, response.text

    assert queued() == {closing["ticket_no"], waiting["ticket_no"]}
    stage("resolved", resolution="已补发")
    assert queued() == {closing["ticket_no"], waiting["ticket_no"]}  # resolved: still reviewable
    stage("closed", feedback="satisfied")
    assert queued() == {waiting["ticket_no"]}  # what the queue offers can be reviewed
    assert review(client, closing["ticket_no"], action="accept").status_code == 409
    stage("reopened")
    assert queued() == {closing["ticket_no"], waiting["ticket_no"]}
    assert review(client, closing["ticket_no"], action="accept").status_code == 200
    assert queued() == {waiting["ticket_no"]}
