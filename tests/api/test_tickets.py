"""Ticket intake and reading, on SQLite and PostgreSQL: filling, masking, idempotency, listing."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text

from api.deps import Services
from api.main import create_app
from api.services.listing import encode_cursor
from api.services.numbering import MAX_PER_DAY
from api.services.scoring import assess
from api.services.thresholds import Thresholds
from api.settings import Settings
from api.tables import IdempotencyKey, Ticket, TicketCounter, TicketEvent

from .conftest import COMPLAINT, KEYS, Clock, TestClient, create_ticket, headers, read_ticket

SURVEY_ASPECTS = ("timeliness", "effectiveness", "attitude", "overall")

TICKET_NO = re.compile(r"TS-\d{8}-\d{6}")


def services_of(client: TestClient) -> Services:
    """The app's shared services (its real database)."""
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    return services


def count(client: TestClient, table: type[Any]) -> int:
    """Rows in a table, read straight from the app's database."""
    database = services_of(client).database
    assert database is not None
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(table)) or 0)


def test_a_ticket_is_filled_routed_and_numbered(store_client: TestClient) -> None:
    ticket = create_ticket(store_client)
    assert TICKET_NO.fullmatch(ticket["ticket_no"])
    assert ticket["ticket_no"] == "TS-20261123-000001"
    assert ticket["received_at"] == "2026-11-23T10:00:00+08:00"
    assert ticket["status"] == {"code": "received", "name": "已登记"}
    assert ticket["channel"] == {"code": "phone", "name": "电话"}
    # what the model in service and the escalation rules make of the text, worked out here
    services = services_of(store_client)
    assert services.models is not None and services.policy is not None
    model = services.models.get().model
    (expected,) = assess(model, [COMPLAINT["text"]], policy=services.policy, thresholds=Thresholds(), explain=False)
    subtype = expected.prediction.subtype.code
    assert ticket["category"]["code"] == expected.prediction.category.code
    assert ticket["subtype"]["code"] == subtype
    assert ticket["department"]["code"] == model.taxonomy.department_of(subtype)
    assert ticket["suggestion"]["subtype"]["probability"] == expected.prediction.subtype.probability
    assert ticket["suggestion"]["model_version"] == "test-sample"
    assert ticket["tier"]["code"] == expected.tier
    assert ticket["needs_review"] is expected.needs_review
    tier = model.taxonomy.tiers[expected.tier]
    received = datetime.fromisoformat(ticket["received_at"])
    assert datetime.fromisoformat(ticket["first_response_due"]) == received + timedelta(hours=tier.first_response_hours)
    assert datetime.fromisoformat(ticket["resolution_due"]) == received + timedelta(hours=tier.resolution_hours)
    assert ticket["first_response"]["state"] == "pending"
    assert ticket["customer_name"] == "张先生" and ticket["order_id"] == "JD-20261120-77"
    assert "contact" not in ticket
    assert ticket["history"] == [] and ticket["survey"] is None and ticket["review"] is None
    assert ticket["surveys"] == [] and ticket["survey_due"] is None
    assert ticket["received_by"] == "intake-tester"  # 接收人: the name of the intake API key
    assert ticket["location"] is None and ticket["demand_note"] is None
    assert ticket["repeat_of"] is None
    second = create_ticket(store_client)
    assert second["ticket_no"] == "TS-20261123-000002"


def test_personal_data_is_masked_in_the_stored_text_and_never_logged(
    store_client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ticket = create_ticket(store_client, text="手机号13812345678，邮箱zhang@example.com，快递一直没送到。")
    assert "[PHONE]" in ticket["text"] and "[EMAIL]" in ticket["text"]
    database = services_of(store_client).database
    assert database is not None
    with database.session() as session:
        stored = session.scalar(select(Ticket).where(Ticket.ticket_no == ticket["ticket_no"]))
        assert stored is not None
        assert "13812345678" not in stored.text and "zhang@example.com" not in stored.text
        assert stored.contact == "13812345678"  # stored as given
    logged = "\n".join(record.getMessage() for record in caplog.records)
    for secret in ("13812345678", "zhang@example.com", "张先生"):
        assert secret not in logged


def test_ids_are_kept_as_sent_for_agents_and_masked_for_others_names_and_owners_masked(
    store_client: TestClient,
) -> None:
    fields = {
        "customer_id": "13812345678",
        "order_id": "6222021234567890128",  # an order number that passes the card check
        "customer_name": "王五 13712345678",
        "contact": "010-62345678",
    }
    first = create_ticket(store_client, **fields)
    second = create_ticket(store_client, **fields)
    assert second["repeat_of"] == first["ticket_no"]  # the id as sent still tells the customer
    ticket_no = first["ticket_no"]
    event = {"stage": "assigned", "owner": "主管 13612345678", "note": "电话13512345678"}
    assert store_client.post(f"/v1/tickets/{ticket_no}/events", json=event, headers=headers("agent")).status_code == 201
    agent = store_client.get(f"/v1/tickets/{ticket_no}", headers=headers("agent")).json()
    assert (agent["customer_id"], agent["order_id"], agent["contact"]) == (
        "13812345678",
        fields["order_id"],
        fields["contact"],
    )
    assert agent["customer_name"] == "王五 [PHONE]" and agent["owner"] == "主管 [PHONE]"
    analyst = store_client.get(f"/v1/tickets/{ticket_no}", headers=headers("analyst")).json()
    assert (analyst["customer_id"], analyst["order_id"]) == ("[PHONE]", "[BANKCARD]") and "contact" not in analyst
    listing = store_client.get("/v1/tickets", headers=headers("agent")).text
    for number in ("13812345678", fields["order_id"], "13712345678", "13612345678", "13512345678"):
        assert number not in listing and number not in str(analyst)


LOCATION = "上海市徐汇区天钥桥路门店，店长电话13912345678"
DEMAND_NOTE = "退一赔三，再补偿一张优惠券，结果发到zhang@example.com"


def test_location_demand_note_and_receiver_are_stored_masked_and_shown(store_client: TestClient) -> None:
    ticket = create_ticket(store_client, location=LOCATION, demand_note=DEMAND_NOTE)
    ticket_no = ticket["ticket_no"]
    masked = {
        "location": "上海市徐汇区天钥桥路门店，店长电话[PHONE]",
        "demand_note": "退一赔三，再补偿一张优惠券，结果发到[EMAIL]",
        "received_by": "intake-tester",
    }
    for role in ("agent", "analyst"):
        shown = store_client.get(f"/v1/tickets/{ticket_no}", headers=headers(role)).json()
        assert {field: shown[field] for field in masked} == masked, role
    assert {field: ticket[field] for field in masked} == masked
    database = services_of(store_client).database
    assert database is not None
    with database.session() as session:
        stored = session.scalar(select(Ticket).where(Ticket.ticket_no == ticket_no))
        assert stored is not None
        assert (stored.location, stored.demand_note, stored.received_by) == tuple(masked.values())
    # the list shows who received a ticket, not the free text
    [item] = store_client.get("/v1/tickets", headers=headers("agent")).json()["items"]
    assert item["received_by"] == "intake-tester" and "location" not in item and "demand_note" not in item
    listing = store_client.get("/v1/tickets", headers=headers("analyst")).text
    for secret in ("13912345678", "zhang@example.com"):
        assert secret not in listing and secret not in str(ticket)
    # another client's ticket names that client; blank text is no value
    other = store_client.post(
        "/v1/tickets",
        json={**COMPLAINT, "location": "  ", "demand_note": ""},
        headers=headers("admin", **{"Idempotency-Key": uuid.uuid4().hex}),
    )
    assert other.status_code == 201, other.text
    assert other.json()["received_by"] == "admin-tester"
    assert other.json()["location"] is None and other.json()["demand_note"] is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"location": "地" * 201}, "location"),
        ({"demand_note": "退" * 501}, "demand_note"),
        ({"location": 12}, "location"),
        ({"received_by": "someone-else"}, "received_by"),  # set by the service, never sent
    ],
)
def test_the_new_fields_are_limited(store_client: TestClient, change: dict[str, Any], field: str) -> None:
    response = store_client.post(
        "/v1/tickets", json={**COMPLAINT, **change}, headers=headers("intake", **{"Idempotency-Key": uuid.uuid4().hex})
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["body", field]
    assert count(store_client, Ticket) == 0


def test_the_new_fields_are_part_of_the_idempotent_request(store_client: TestClient) -> None:
    key = uuid.uuid4().hex
    body = {**COMPLAINT, "location": LOCATION, "demand_note": DEMAND_NOTE}
    first = store_client.post("/v1/tickets", json=body, headers=headers("intake", **{"Idempotency-Key": key}))
    assert first.status_code == 201
    replay = store_client.post("/v1/tickets", json=body, headers=headers("intake", **{"Idempotency-Key": key}))
    assert replay.status_code == 200 and replay.json()["ticket_no"] == first.json()["ticket_no"]
    for change in ({"location": "北京"}, {"demand_note": None}, {"location": None, "demand_note": None}):
        other = store_client.post(
            "/v1/tickets", json={**body, **change}, headers=headers("intake", **{"Idempotency-Key": key})
        )
        assert other.status_code == 409 and other.json()["detail"][0]["type"] == "idempotency_conflict", change
    assert count(store_client, Ticket) == 1


def test_a_body_without_the_new_fields_hashes_as_before_them() -> None:
    # A key stored by the previous release (kept 48 h) still replays its ticket after an upgrade:
    # the hash of a body that leaves the new fields out is the canonical JSON of the old fields.
    from zoneinfo import ZoneInfo

    from api.schemas import TicketCreate
    from api.services.idempotency import request_hash

    old_fields = ("text", "channel", "customer_id", "customer_name", "contact", "order_id", "product", "occurred_at")
    before = {name: COMPLAINT.get(name) for name in old_fields}
    canonical = json.dumps(before, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    zone = ZoneInfo("Asia/Shanghai")
    assert request_hash(TicketCreate.model_validate(COMPLAINT), zone) == hashlib.sha256(canonical.encode()).hexdigest()
    given = TicketCreate.model_validate({**COMPLAINT, "location": "北京"})
    assert request_hash(given, zone) != request_hash(TicketCreate.model_validate(COMPLAINT), zone)


def test_the_contact_is_shown_to_agents_only(store_client: TestClient) -> None:
    ticket_no = create_ticket(store_client)["ticket_no"]
    agent = store_client.get(f"/v1/tickets/{ticket_no}", headers=headers("agent")).json()
    admin = store_client.get(f"/v1/tickets/{ticket_no}", headers=headers("admin")).json()
    analyst = store_client.get(f"/v1/tickets/{ticket_no}", headers=headers("analyst")).json()
    assert agent["contact"] == admin["contact"] == "13812345678"
    assert "contact" not in analyst
    listing = store_client.get("/v1/tickets", headers=headers("agent"))
    assert "13812345678" not in listing.text.replace("[PHONE]", "")
    assert all("contact" not in item and "customer_name" not in item for item in listing.json()["items"])


def test_unknown_ticket_is_404_naming_the_number(store_client: TestClient) -> None:
    response = store_client.get("/v1/tickets/TS-20990101-000001", headers=headers("agent"))
    assert response.status_code == 404
    assert response.json()["detail"][0]["loc"] == ["path", "ticket_no"]
    assert "'TS-20990101-000001'" in response.json()["detail"][0]["msg"]
    assert store_client.get("/v1/tickets/nonsense", headers=headers("agent")).status_code == 404
    # a long value is quoted in part only
    long = store_client.get("/v1/tickets/" + "x" * 5000, headers=headers("agent")).json()["detail"][0]["msg"]
    assert "x" * 40 in long and "x" * 41 not in long and "5000 characters" in long


@pytest.mark.parametrize("number", ["%00", "TS-20261123-000001%00", "ts-20261123-000001", "TS-20261123-000001%20"])
def test_a_number_not_shaped_like_one_is_404_on_every_ticket_route(store_client: TestClient, number: str) -> None:
    # a NUL byte reaching PostgreSQL as a text parameter was a 500 (the driver refuses it)
    created = create_ticket(store_client)["ticket_no"]
    path = f"/v1/tickets/{number.replace('TS-20261123-000001', created)}"
    answers = [
        store_client.get(path, headers=headers("agent")),
        store_client.post(f"{path}/review", json={"action": "accept"}, headers=headers("agent")),
        store_client.post(f"{path}/events", json={"stage": "customer_contacted"}, headers=headers("agent")),
        store_client.post(f"{path}/survey", json=dict.fromkeys(SURVEY_ASPECTS, 5), headers=headers("agent")),
    ]
    for response in answers:
        assert response.status_code == 404, response.text
        (detail,) = response.json()["detail"]
        assert detail["loc"] == ["path", "ticket_no"] and "TS-YYYYMMDD-NNNNNN" in detail["msg"]
    # nothing happened to the ticket with the number inside the malformed one
    ticket = store_client.get(f"/v1/tickets/{created}", headers=headers("agent")).json()
    assert ticket["review"] is None and ticket["status"]["code"] == "received" and ticket["survey"] is None


def test_same_key_same_body_returns_the_same_ticket_without_a_new_row(store_client: TestClient) -> None:
    key = uuid.uuid4().hex
    first = create_ticket(store_client, key=key)
    replay = store_client.post(
        "/v1/tickets",
        json={**COMPLAINT, "channel": "phone"},  # same content, other key order
        headers=headers("intake", **{"Idempotency-Key": key}),
    )
    assert replay.status_code == 200
    assert replay.json()["ticket_no"] == first["ticket_no"]
    assert replay.headers["Location"] == f"/v1/tickets/{first['ticket_no']}"
    assert count(store_client, Ticket) == 1
    # the ticket's revision, as a GET gives it: If-Match needs no GET first
    shown = store_client.get(f"/v1/tickets/{first['ticket_no']}", headers=headers("agent"))
    assert replay.headers["ETag"] == shown.headers["ETag"] == '"1"'


def test_same_key_different_body_is_409_and_writes_nothing(store_client: TestClient) -> None:
    key = uuid.uuid4().hex
    create_ticket(store_client, key=key)
    response = store_client.post(
        "/v1/tickets",
        json={**COMPLAINT, "text": "另一件事：客服态度恶劣。"},
        headers=headers("intake", **{"Idempotency-Key": key}),
    )
    assert response.status_code == 409
    assert response.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    assert response.json()["detail"][0]["type"] == "idempotency_conflict"
    assert count(store_client, Ticket) == 1


def test_a_key_belongs_to_its_client_and_a_time_written_otherwise_is_the_same_request(
    store_client: TestClient,
) -> None:
    key = uuid.uuid4().hex
    local = {**COMPLAINT, "occurred_at": "2026-11-20T10:00:00"}  # business time zone: Shanghai
    first = store_client.post("/v1/tickets", json=local, headers=headers("intake", **{"Idempotency-Key": key}))
    assert first.status_code == 201
    for occurred_at in ("2026-11-20T10:00:00+08:00", "2026-11-20T02:00:00Z"):
        retry = store_client.post(
            "/v1/tickets",
            json={**COMPLAINT, "occurred_at": occurred_at},
            headers=headers("intake", **{"Idempotency-Key": key}),
        )
        assert retry.status_code == 200 and retry.json()["ticket_no"] == first.json()["ticket_no"]
    # another client (another API key name) using the same key files its own ticket
    other = store_client.post("/v1/tickets", json=local, headers=headers("admin", **{"Idempotency-Key": key}))
    assert other.status_code == 201 and other.json()["ticket_no"] != first.json()["ticket_no"]
    assert count(store_client, Ticket) == 2


def test_two_different_keys_in_one_request_are_refused(store_client: TestClient) -> None:
    twice = [("Idempotency-Key", "a-1"), ("Idempotency-Key", "a-2"), ("X-API-Key", KEYS["intake"])]
    response = store_client.post("/v1/tickets", json=COMPLAINT, headers=httpx.Headers(twice))
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    for two_api_keys in (
        [("X-API-Key", KEYS["intake"]), ("X-API-Key", KEYS["admin"]), ("Idempotency-Key", "a-3")],
        [("X-API-Key", KEYS["intake"]), ("Authorization", f"Bearer {KEYS['admin']}"), ("Idempotency-Key", "a-4")],
    ):
        response = store_client.post("/v1/tickets", json=COMPLAINT, headers=httpx.Headers(two_api_keys))
        assert response.status_code == 401 and "more than one API key" in response.json()["detail"][0]["msg"]
    assert count(store_client, Ticket) == 0


def test_keys_are_kept_at_least_24_hours(store_client: TestClient, clock: Clock) -> None:
    key = uuid.uuid4().hex
    first = create_ticket(store_client, key=key)
    clock.advance(hours=47)
    replay = store_client.post("/v1/tickets", json=COMPLAINT, headers=headers("intake", **{"Idempotency-Key": key}))
    assert replay.status_code == 200 and replay.json()["ticket_no"] == first["ticket_no"]
    clock.advance(hours=2)  # past the 48 h default: the key is forgotten
    again = store_client.post("/v1/tickets", json=COMPLAINT, headers=headers("intake", **{"Idempotency-Key": key}))
    assert again.status_code == 201 and again.json()["ticket_no"] != first["ticket_no"]
    assert count(store_client, IdempotencyKey) == 1


def test_the_idempotency_key_header_is_required_and_checked(store_client: TestClient) -> None:
    missing = store_client.post("/v1/tickets", json=COMPLAINT, headers=headers("intake"))
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]
    spaced = store_client.post("/v1/tickets", json=COMPLAINT, headers=headers("intake", **{"Idempotency-Key": "a b"}))
    assert spaced.status_code == 422
    assert count(store_client, Ticket) == 0


def test_concurrent_duplicates_make_exactly_one_ticket(store_client: TestClient) -> None:
    key = uuid.uuid4().hex
    barrier = threading.Barrier(8)
    answers: list[tuple[int, str]] = []
    lock = threading.Lock()

    def post() -> None:
        barrier.wait()
        response = store_client.post(
            "/v1/tickets", json=COMPLAINT, headers=headers("intake", **{"Idempotency-Key": key})
        )
        with lock:
            answers.append((response.status_code, response.json().get("ticket_no", response.text)))

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(status for status, _ in answers)
    assert statuses == [200] * 7 + [201], answers
    assert len({number for _, number in answers}) == 1
    assert count(store_client, Ticket) == 1


def test_concurrent_tickets_get_distinct_numbers_across_apps(
    database_url: str, make_client: Callable[..., TestClient]
) -> None:
    clients = [make_client(database_url=database_url) for _ in range(2)]  # two "processes" on one database
    barrier = threading.Barrier(8)
    numbers: list[str] = []
    lock = threading.Lock()

    def post(index: int) -> None:
        barrier.wait()
        response = clients[index % 2].post(
            "/v1/tickets", json=COMPLAINT, headers=headers("intake", **{"Idempotency-Key": uuid.uuid4().hex})
        )
        assert response.status_code == 201, response.text
        with lock:
            numbers.append(response.json()["ticket_no"])

    threads = [threading.Thread(target=post, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(numbers) == [f"TS-20261123-{n:06d}" for n in range(1, 9)]


def test_field_errors_are_422_naming_the_field_and_write_nothing(store_client: TestClient) -> None:
    cases = [
        ({"channel": "fax"}, ["body", "channel"]),
        ({"text": "   "}, ["body", "text"]),
        ({"text": "\u200b\ufeff\u202e"}, ["body", "text"]),  # only invisible characters
        ({"text": "\x01\x1b\x7f"}, ["body", "text"]),  # only control characters
        ({"occurred_at": 0}, ["body", "occurred_at"]),  # a number is no ISO 8601 time
        ({"occurred_at": "1700000000"}, ["body", "occurred_at"]),
        ({"text": "差" * 5001}, ["body", "text"]),
        ({"occurred_at": "2099-01-01T00:00:00+08:00"}, ["body", "occurred_at"]),
        ({"occurred_at": "yesterday"}, ["body", "occurred_at"]),
        ({"occurred_at": "0001-01-01T00:00:00"}, ["body", "occurred_at"]),
        # Shanghai's offset had seconds then (+08:05:43), which the ISO times shown cannot hold.
        ({"occurred_at": "1900-01-01T00:00:00"}, ["body", "occurred_at"]),
        ({"customer_id": "x" * 65}, ["body", "customer_id"]),
        ({"priority": "high"}, ["body", "priority"]),
    ]
    for change, loc in cases:
        response = store_client.post(
            "/v1/tickets",
            json={**COMPLAINT, **change},
            headers=headers("intake", **{"Idempotency-Key": uuid.uuid4().hex}),
        )
        assert response.status_code == 422, (change, response.text)
        assert response.json()["detail"][0]["loc"] == loc, change
    assert count(store_client, Ticket) == 0
    assert count(store_client, IdempotencyKey) == 0


def test_nul_characters_and_lone_surrogates_do_not_break_the_store(store_client: TestClient) -> None:
    raw = '{"text": "快递\\u0000没送到\\ud800，太慢了", "channel": "online"}'
    response = store_client.post(
        "/v1/tickets",
        content=raw.encode(),
        headers=headers("intake", **{"Idempotency-Key": uuid.uuid4().hex, "Content-Type": "application/json"}),
    )
    assert response.status_code == 201, response.text
    assert "\x00" not in response.json()["text"]
    escaped = create_ticket(store_client, text="快递\x1b[31m没送到\x07，太慢了\t两天")
    assert escaped["text"] == "快递[31m没送到，太慢了\t两天"  # control characters go, tab stays
    # a separating control character (Word's line break) becomes a space: the number stays apart
    separated = create_ticket(store_client, text="快递没送到，数量2\x0b13812345678联系我")
    assert separated["text"] == "快递没送到，数量2 [PHONE]联系我"
    # a right-to-left override would show the name and the text after it reversed
    spoofed = create_ticket(store_client, text="快递\u202e没送到\u202c，太慢了", customer_name="王\u202e小明")
    assert spoofed["text"] == "快递没送到，太慢了" and spoofed["customer_name"] == "王小明"


def test_an_emoji_cut_in_half_is_cleaned_in_every_field_not_refused(store_client: TestClient) -> None:
    # A UTF-16 substring of a nickname or note (JavaScript's slice) can cut an emoji's surrogate
    # pair: JSON then carries a lone surrogate. The text was cleaned; every other field refused.
    fields = ("customer_name", "customer_id", "contact", "order_id", "product", "location", "demand_note")
    body = {"text": "快递没送到\ud83d", "channel": "social", **dict.fromkeys(fields, "小明\ud83d")}
    response = store_client.post(
        "/v1/tickets",
        content=json.dumps(body).encode(),  # ASCII, the surrogate escaped as \ud83d
        headers=headers("intake", **{"Idempotency-Key": uuid.uuid4().hex, "Content-Type": "application/json"}),
    )
    assert response.status_code == 201, response.text
    ticket = read_ticket(store_client, response.json()["ticket_no"])
    assert ticket["text"] == "快递没送到\ufffd"
    assert all(ticket[name] == "小明\ufffd" for name in fields), ticket
    path = f"/v1/tickets/{ticket['ticket_no']}"
    agent = headers("agent", **{"Content-Type": "application/json"})
    assigned = {"stage": "assigned", "owner": "王工\ud83d", "note": "已转\ud83d"}
    answer = store_client.post(f"{path}/events", content=json.dumps(assigned).encode(), headers=agent)
    assert answer.status_code == 201, answer.text
    assert answer.json()["owner"] == "王工\ufffd" and answer.json()["history"][-1]["note"] == "已转\ufffd"
    # the limits still count characters, once cleaned
    long_name = store_client.post(
        "/v1/tickets",
        json={**COMPLAINT, "customer_name": "名" * 101},
        headers=headers("intake", **{"Idempotency-Key": uuid.uuid4().hex}),
    )
    assert long_name.status_code == 422
    assert long_name.json()["detail"] == [
        {
            "loc": ["body", "customer_name"],
            "msg": "String should have at most 100 characters",
            "type": "string_too_long",
            "max_length": 100,
        }
    ]


def test_repeat_of_links_the_customers_earlier_ticket_of_the_same_category(
    store_client: TestClient, clock: Clock
) -> None:
    first = create_ticket(store_client)
    clock.advance(days=3)
    second = create_ticket(store_client)
    assert second["category"] == first["category"]
    assert second["repeat_of"] == first["ticket_no"]
    other_customer = create_ticket(store_client, customer_id="C-2002")
    assert other_customer["repeat_of"] is None
    anonymous = create_ticket(store_client, customer_id=None)
    assert anonymous["repeat_of"] is None
    fetched = store_client.get(f"/v1/tickets/{second['ticket_no']}", headers=headers("agent")).json()
    assert fetched["repeat_of"] == first["ticket_no"]


def test_a_customers_tickets_sent_at_once_link_up_in_the_order_they_were_received(
    database_url: str, make_settings: Callable[..., Settings]
) -> None:
    # The first request starts, then waits until a second one, started a second later, has stored
    # its ticket. The first's received time is read when it takes its number, after the second's:
    # it is received, numbered and stored second, and is the repeat of the other.
    start = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
    first_read, second_stored = threading.Event(), threading.Event()
    calls = itertools.count()

    def clock() -> datetime:
        if next(calls) == 0:
            first_read.set()
            assert second_stored.wait(60)
            return start
        return start + timedelta(seconds=1)

    slow: dict[str, Any] = {}
    with TestClient(create_app(make_settings(database_url=database_url), clock=clock)) as client:
        thread = threading.Thread(target=lambda: slow.update(create_ticket(client)))
        thread.start()
        assert first_read.wait(60)
        fast = create_ticket(client)
        second_stored.set()
        thread.join(60)
    assert fast["repeat_of"] is None
    assert slow["received_at"] >= fast["received_at"] and slow["ticket_no"] > fast["ticket_no"]
    assert slow["repeat_of"] == fast["ticket_no"]


def test_repeat_of_ignores_closed_tickets_older_than_30_days(store_client: TestClient, clock: Clock) -> None:
    first = create_ticket(store_client)["ticket_no"]
    for event in (
        {"stage": "resolved", "resolution": "已上门维修"},
        {"stage": "closed", "feedback": "satisfied"},
    ):
        assert store_client.post(f"/v1/tickets/{first}/events", json=event, headers=headers("agent")).status_code == 201
    clock.advance(days=31)
    assert create_ticket(store_client)["repeat_of"] is None


def test_open_tickets_count_as_repeats_after_30_days(store_client: TestClient, clock: Clock) -> None:
    first = create_ticket(store_client)["ticket_no"]
    clock.advance(days=40)
    assert create_ticket(store_client)["repeat_of"] == first


def test_the_repeat_window_counts_from_the_earlier_tickets_closure(store_client: TestClient, clock: Clock) -> None:
    first = create_ticket(store_client)["ticket_no"]
    clock.advance(days=28)  # handled for four weeks, closed
    for event in ({"stage": "resolved", "resolution": "已补发"}, {"stage": "closed", "feedback": "mostly"}):
        assert store_client.post(f"/v1/tickets/{first}/events", json=event, headers=headers("agent")).status_code == 201
    clock.advance(days=5)  # received 33 days after the first, 5 after it was closed
    assert create_ticket(store_client)["repeat_of"] == first


def test_a_review_that_changes_the_category_looks_for_the_repeat_again(store_client: TestClient, clock: Clock) -> None:
    late = create_ticket(store_client, text="快递一个星期还没送到，物流信息也不更新")
    assert late["category"]["code"] == "logistics"
    clock.advance(days=2)
    rude = create_ticket(store_client, text="客服态度非常差，说话很不耐烦，还挂我电话")
    assert rude["category"]["code"] == "service" and rude["repeat_of"] is None
    clock.advance(hours=1)
    path = f"/v1/tickets/{rude['ticket_no']}"
    body = {"action": "correct", "subtype": "courier_service", "comment": "骂人的是快递员"}
    corrected = store_client.post(f"{path}/review", json=body, headers=headers("agent")).json()
    assert corrected["category"]["code"] == "logistics" and corrected["repeat_of"] == late["ticket_no"]
    # back to service: the customer's earlier logistics ticket is no repeat of it any more
    body = {"action": "correct", "subtype": "attitude"}
    again = store_client.post(f"{path}/review", json=body, headers=headers("agent")).json()
    assert again["repeat_of"] is None
    # a later ticket of the customer never counts as the earlier one
    assert (
        store_client.post(f"/v1/tickets/{late['ticket_no']}/review", json=body, headers=headers("agent")).json()[
            "repeat_of"
        ]
        is None
    )


def test_a_review_that_moves_the_ticket_to_another_department_drops_the_old_owner(store_client: TestClient) -> None:
    ticket = create_ticket(store_client, text="快递一个星期还没送到，物流信息也不更新")
    path = f"/v1/tickets/{ticket['ticket_no']}"
    assigned = {"stage": "assigned", "owner": "物流部 王工"}
    assert store_client.post(f"{path}/events", json=assigned, headers=headers("agent")).status_code == 201
    same = {"action": "correct", "subtype": "damaged_package"}  # still 物流部
    assert store_client.post(f"{path}/review", json=same, headers=headers("agent")).json()["owner"] == "物流部 王工"
    moved = store_client.post(
        f"{path}/review", json={"action": "correct", "subtype": "refund_return"}, headers=headers("agent")
    ).json()
    assert moved["department"]["code"] == "after_sales" and moved["owner"] is None
    review = moved["history"][-1]
    assert (review["before"]["owner"], review["after"]["owner"]) == ("物流部 王工", None)


def _all_pages(client: TestClient, query: str, limit: int) -> list[str]:
    numbers: list[str] = []
    cursor = None
    while True:
        url = f"/v1/tickets?limit={limit}{query}" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(url, headers=headers("analyst"))
        assert page.status_code == 200, page.text
        body = page.json()
        assert len(body["items"]) <= limit
        numbers += [item["ticket_no"] for item in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return numbers


def test_cursor_pagination_returns_every_ticket_once_newest_first(store_client: TestClient, clock: Clock) -> None:
    created = []
    for index in range(7):
        created.append(create_ticket(store_client, customer_id=f"C-{index}")["ticket_no"])
        if index % 3 == 0:
            clock.advance(minutes=1)  # some tickets share a received time
    assert _all_pages(store_client, "", 3) == list(reversed(created))
    assert _all_pages(store_client, "", 7) == list(reversed(created))


def test_new_tickets_do_not_disturb_a_listing_in_progress(store_client: TestClient, clock: Clock) -> None:
    first = [create_ticket(store_client, customer_id=f"C-{index}")["ticket_no"] for index in range(4)]
    page = store_client.get("/v1/tickets?limit=2", headers=headers("agent")).json()
    clock.advance(minutes=5)
    newer = create_ticket(store_client, customer_id="C-new")["ticket_no"]
    rest = store_client.get(f"/v1/tickets?limit=10&cursor={page['next_cursor']}", headers=headers("agent")).json()
    listed = [item["ticket_no"] for item in page["items"] + rest["items"]]
    assert listed == first[::-1] and newer not in listed  # the four, newest first, once each


def test_filters(store_client: TestClient, clock: Clock) -> None:
    phone = create_ticket(store_client, channel="phone", customer_id="A")
    clock.advance(hours=1)
    online = create_ticket(store_client, channel="online", customer_id="B", text="外卖里吃出虫子，吃完拉肚子。")
    assert online["tier"]["code"] == "P1"

    def numbers(query: str) -> set[str]:
        response = store_client.get(f"/v1/tickets?{query}", headers=headers("agent"))
        assert response.status_code == 200, response.text
        return {item["ticket_no"] for item in response.json()["items"]}

    both = {phone["ticket_no"], online["ticket_no"]}
    assert numbers("channel=online") == {online["ticket_no"]}
    assert numbers("tier=P1") == {online["ticket_no"]} | (
        {phone["ticket_no"]} if phone["tier"]["code"] == "P1" else set()
    )
    tickets = (phone, online)
    for field in ("category", "department"):
        for code in {ticket[field]["code"] for ticket in tickets}:
            expected = {ticket["ticket_no"] for ticket in tickets if ticket[field]["code"] == code}
            assert numbers(f"{field}={code}") == expected, (field, code)
    other = next(code for code in ("product", "logistics", "service") if code != online["category"]["code"])
    assert numbers(f"category={other}") == {t["ticket_no"] for t in tickets if t["category"]["code"] == other}
    assert numbers("status=received") == both
    assert numbers("status=closed&status=resolved") == set()
    assert numbers("created_from=2026-11-23T10:30:00%2B08:00") == {online["ticket_no"]}
    assert numbers("created_to=2026-11-23T10:30:00") == {phone["ticket_no"]}  # naive: business time zone
    assert numbers("overdue=false") == both
    clock.advance(hours=3)  # the P1 ticket's 1 h first response is now late
    assert online["ticket_no"] in numbers("overdue=true")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=done", "status"),
        ("tier=P9", "tier"),
        ("category=food", "category"),
        ("department=legal", "department"),
        ("channel=fax", "channel"),
        ("limit=0", "limit"),
        ("limit=500", "limit"),
        ("overdue=maybe", "overdue"),
        ("created_from=tomorrow", "created_from"),
        ("created_to=0001-01-01T00:00:00", "created_to"),
        ("created_to=0.5", "created_to"),
        ("created_from=1700000000", "created_from"),
        ("created_from=2026-11-24T00:00:00&created_to=2026-11-23T00:00:00", "created_from"),
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=eyJ2IjoxfQ", "cursor"),
    ],
)
def test_bad_list_parameters_are_422_naming_the_parameter(store_client: TestClient, query: str, field: str) -> None:
    response = store_client.get(f"/v1/tickets?{query}", headers=headers("agent"))
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"][:2] == ["query", field]


def test_a_cursor_works_only_with_its_own_filters(store_client: TestClient) -> None:
    for index in range(3):
        create_ticket(store_client, customer_id=f"C-{index}")
    cursor = store_client.get("/v1/tickets?limit=1", headers=headers("agent")).json()["next_cursor"]
    response = store_client.get(f"/v1/tickets?limit=1&channel=email&cursor={cursor}", headers=headers("agent"))
    assert response.status_code == 422
    assert "other filters" in response.json()["detail"][0]["msg"]


def test_a_tampered_cursor_id_beyond_any_row_id_is_422(store_client: TestClient) -> None:
    for index in range(2):
        create_ticket(store_client, customer_id=f"C-{index}")
    cursor = store_client.get("/v1/tickets?limit=1", headers=headers("agent")).json()["next_cursor"]
    payload = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    for ticket_id in (10**30, 2**63, -1):
        tampered = encode_cursor({**payload, "id": ticket_id})
        response = store_client.get(f"/v1/tickets?limit=1&cursor={tampered}", headers=headers("agent"))
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"] == ["query", "cursor"]


def test_postgres_tests_run_in_a_schema_of_their_own(postgres_url: str, make_client: Callable[..., TestClient]) -> None:
    client = make_client(database_url=postgres_url)
    database = services_of(client).database
    assert database is not None and database.dialect == "postgresql"
    with database.engine.connect() as connection:
        schema = connection.execute(text("SELECT current_schema()")).scalar_one()
    assert str(schema).startswith("test_api_")


def test_a_flood_of_concurrent_requests_waits_for_the_pool_without_a_thread(store_client: TestClient) -> None:
    # 150 reads at once: more than the pool's 15 connections plus the 40 worker threads. Before
    # sessions were limited to the pool's size and closed with the handler, the threads all waited
    # for connections held by requests waiting for a thread: 30 s later half of them were 500s.
    ticket_no = create_ticket(store_client)["ticket_no"]
    app = store_client.app

    async def flood() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=120) as client:
            responses = await asyncio.gather(
                *(client.get(f"/v1/tickets/{ticket_no}", headers=headers("agent")) for _ in range(150))
            )
        return [response.status_code for response in responses]

    assert asyncio.run(flood()) == [200] * 150


def test_a_field_that_masking_makes_too_long_is_422_not_a_database_error(store_client: TestClient) -> None:
    # "a@b.cn" (6 characters) becomes "[EMAIL]" (7): within the field's limit as sent, over the
    # column's once masked; PostgreSQL refused the insert with a 500 before.
    for field, limit in (("product", 200), ("customer_name", 100)):
        value = " ".join(["a@b.cn"] * (limit // 7))
        assert len(value) <= limit
        response = store_client.post(
            "/v1/tickets",
            json={**COMPLAINT, field: value},
            headers=headers("intake", **{"Idempotency-Key": uuid.uuid4().hex}),
        )
        assert response.status_code == 422, response.text
        [detail] = response.json()["detail"]
        assert detail["loc"] == ["body", field] and "once personal data is masked" in detail["msg"]
    ticket_no = create_ticket(store_client)["ticket_no"]
    owner = {"stage": "assigned", "owner": " ".join(["a@b.cn"] * 14)}
    refused = store_client.post(f"/v1/tickets/{ticket_no}/events", json=owner, headers=headers("agent"))
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "owner"]
    assert store_client.get(f"/v1/tickets/{ticket_no}", headers=headers("agent")).json()["history"] == []


def test_simultaneous_intake_numbers_lists_and_polls_tickets_in_the_order_they_were_received(
    database_url: str, make_settings: Callable[..., Settings]
) -> None:
    # 40 POSTs at once across the business day's end (00:00 in Shanghai), with a clock that is later
    # at every reading, while an intake system polls `created_from=<the latest received_at it saw>`.
    # A request used to read its received time when it started and take its number later, so
    # numbers and received times disagreed, and a ticket could be stored after a later-received one
    # a poller had already seen: it then missed it.
    midnight = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)
    readings = itertools.count()
    reading = threading.Lock()

    def clock() -> datetime:
        with reading:
            return midnight + timedelta(milliseconds=next(readings) - 40)

    keys = [uuid.uuid4().hex for _ in range(40)]
    bodies = [{**COMPLAINT, "customer_id": f"C-{index}"} for index in range(40)]
    with TestClient(create_app(make_settings(database_url=database_url), clock=clock)) as client:
        app = client.app

        async def burst() -> tuple[list[httpx.Response], set[str]]:
            transport = httpx.ASGITransport(app=app)
            seen: set[str] = set()
            async with httpx.AsyncClient(transport=transport, base_url="http://test", timeout=120) as http:

                async def post(key: str, body: dict[str, Any]) -> httpx.Response:
                    intake = headers("intake", **{"Idempotency-Key": key})
                    return await http.post("/v1/tickets", json=body, headers=intake)

                async def poll(since: str | None) -> str | None:
                    query = {"limit": "200", **({"created_from": since} if since else {})}
                    page = await http.get("/v1/tickets", params=query, headers=headers("agent"))
                    assert page.status_code == 200, page.text
                    items = page.json()["items"]
                    seen.update(item["ticket_no"] for item in items)
                    times = [datetime.fromisoformat(item["received_at"]) for item in items]
                    return max(times).isoformat() if times else since

                posts = asyncio.gather(*(post(key, body) for key, body in zip(keys, bodies, strict=True)))
                since = None
                while not posts.done():
                    since = await poll(since)
                    await asyncio.sleep(0)
                await poll(since)
                return await posts, seen

        responses, polled = asyncio.run(burst())
        assert [response.status_code for response in responses] == [201] * 40
        tickets = [response.json() for response in responses]
        by_number = sorted(tickets, key=lambda ticket: ticket["ticket_no"])
        by_received = sorted(tickets, key=lambda ticket: datetime.fromisoformat(ticket["received_at"]))
        assert [t["ticket_no"] for t in by_number] == [t["ticket_no"] for t in by_received]
        # each number's day is the business day of its received time, counted from 000001 each day
        days: dict[str, list[int]] = {}
        for ticket in by_number:
            _, day, serial = ticket["ticket_no"].split("-")
            assert datetime.fromisoformat(ticket["received_at"]).strftime("%Y%m%d") == day  # shown in Shanghai time
            days.setdefault(day, []).append(int(serial))
        assert set(days) == {"20261123", "20261124"}
        assert all(serials == list(range(1, len(serials) + 1)) for serials in days.values())
        # the listing (newest first) agrees, and the poller missed none
        listing = client.get("/v1/tickets?limit=200", headers=headers("agent")).json()
        listed = [item["ticket_no"] for item in listing["items"]]
        assert listed == [t["ticket_no"] for t in reversed(by_number)]
        assert polled == {t["ticket_no"] for t in tickets}
        # a retry of each gives back its stored ticket
        for key, body, ticket in zip(keys, bodies, tickets, strict=True):
            retry = client.post("/v1/tickets", json=body, headers=headers("intake", **{"Idempotency-Key": key}))
            assert retry.status_code == 200 and retry.json()["ticket_no"] == ticket["ticket_no"]
            assert retry.json()["received_at"] == ticket["received_at"]
        assert count(client, Ticket) == 40


def test_a_day_whose_numbers_are_used_up_is_a_503_that_stores_nothing(store_client: TestClient, clock: Clock) -> None:
    database = services_of(store_client).database
    assert database is not None
    with database.session() as session:
        session.add(TicketCounter(day="20261123", last_value=MAX_PER_DAY - 1))
        session.commit()
    last = create_ticket(store_client)
    assert last["ticket_no"] == "TS-20261123-999999"
    key = uuid.uuid4().hex
    text = "买的热水器用了两天就漏电，差点出事！再不处理我就投诉到12315"
    urgent = {**COMPLAINT, "text": text, "customer_id": "C-2002"}
    refused = store_client.post("/v1/tickets", json=urgent, headers=headers("intake", **{"Idempotency-Key": key}))
    assert refused.status_code == 503, refused.text
    [detail] = refused.json()["detail"]
    assert detail["type"] == "ticket_numbers_used_up"
    assert "2026-11-23 are used up" in detail["msg"] and "2026-11-24 00:00 (Asia/Shanghai)" in detail["msg"]
    assert refused.headers["Retry-After"] == str(14 * 3600)  # 10:00 in Shanghai: 14 hours to the next day
    # nothing half-written: no ticket, no key, no escalation, the counter as it was
    assert count(store_client, Ticket) == 1 and count(store_client, IdempotencyKey) == 1
    assert count(store_client, TicketEvent) == 0
    with database.session() as session:
        assert session.get(TicketCounter, "20261123").last_value == MAX_PER_DAY  # type: ignore[union-attr]
    # the next day, the same request with the same key is filed
    clock.advance(hours=14)
    retry = store_client.post("/v1/tickets", json=urgent, headers=headers("intake", **{"Idempotency-Key": key}))
    assert retry.status_code == 201 and retry.json()["ticket_no"] == "TS-20261124-000001"
    assert retry.json()["escalation_level"] == 2  # urgent: escalated to the head when filed, not before
