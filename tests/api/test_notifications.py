"""Escalation notifications (practice document 003: 对超时未完成的节点及时提醒责任人; 紧急投诉需第一时间
升级至部门负责人): every escalation event gets an outbox row in its own transaction, and the dispatcher
POSTs it to TRIAGE_NOTIFY_URL, at least once, retrying with back-off, giving up after the limit.

The receiver is a real HTTP server on 127.0.0.1 (a thread of the test); the dispatcher is the
service's own `Notifier`, run one round at a time (`dispatch_once`) at the app's clock, except in
the test of the lifespan's own task.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from api.cli import app as cli
from api.deadline_sweeper import DeadlineSweeper
from api.deps import Services
from api.notifier import Notifier
from api.services.escalation import EscalationConfigError, parse_policy
from api.services.outbox import claim, due_ids, wake_on_commit
from api.services.urgent_escalation import INTAKE_ACTOR, URGENT_HEAD_ESCALATED
from api.settings import DEFAULT_ESCALATION, Settings, url_origin
from api.tables import Notification, Ticket, TicketEvent
from model.taxonomy import Taxonomy

from .conftest import COMPLAINT, Clock, Received, Receiver, TestClient, create_ticket, headers, read_ticket

PHONE = "13912345678"
URGENT = f"买的热水器用了两天就漏电，差点出事，电话{PHONE}，要求上门检修。"
CUSTOMER = {"customer_name": "王小明", "contact": "13700001111", "customer_id": "C-7788", "order_id": "JD-20261120-99"}
TOKEN = "s3cret-notify-token"
CONTACTS = {
    "技术部": {"supervisor": "技术部主管", "head": "技术部负责人"},
    "cs": {"supervisor": "客服主管", "head": "客服经理"},
}
runner = CliRunner()


def contacts_file(tmp_path: Path, contacts: Any) -> Path:
    """The default escalation file with `contacts`."""
    raw = yaml.safe_load(DEFAULT_ESCALATION.read_text(encoding="utf-8"))
    raw["contacts"] = contacts
    path = tmp_path / f"escalation-{uuid.uuid4().hex[:8]}.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


@pytest.fixture
def notifying(
    database_url: str, make_client: Callable[..., TestClient], receiver: Receiver, tmp_path: Path
) -> Callable[..., TestClient]:
    """Start an app on each database that notifies the receiver (no background dispatcher unless
    `notify_interval_seconds` is given), with `CONTACTS` for 技术部 and 客服部 (by its code)."""

    def start(**overrides: Any) -> TestClient:
        values: dict[str, Any] = {
            "database_url": database_url,
            "notify_url": receiver.url,
            "notify_token": TOKEN,
            "notify_interval_seconds": 0,
            "notify_backoff_seconds": 30,
            "escalation_rules": contacts_file(tmp_path, CONTACTS),
        }
        return make_client(**{**values, **overrides})

    return start


def services_of(client: TestClient) -> Services:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    return services


def dispatcher(client: TestClient) -> Notifier:
    """The service's dispatcher for the app (its rounds run by the test)."""
    return Notifier(services_of(client))


def dispatch(client: TestClient) -> dict[str, int]:
    """One round of a fresh dispatcher of the app: outcomes and their counts."""
    notifier = dispatcher(client)
    try:
        return dict(notifier.dispatch_once())
    finally:
        notifier.close()


def notifications(client: TestClient, state: str | None = None) -> list[dict[str, Any]]:
    response = client.get("/v1/notifications" + (f"?state={state}" if state else ""), headers=headers("analyst"))
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def outbox_rows(client: TestClient) -> int:
    database = services_of(client).database
    assert database is not None
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(Notification)) or 0)


def add_urgent_escalation(session: Session, clock: Clock) -> None:
    """Add and flush an urgent escalation event of the first ticket, as a review would (not committed)."""
    session.add(
        TicketEvent(
            ticket_id=session.scalar(select(Ticket.id)),
            stage=URGENT_HEAD_ESCALATED,
            from_status="received",
            actor=INTAKE_ACTOR,
            at=clock.now,
            owner=None,
            note=None,
            details={"level": 2, "tier": "P1", "trigger": "review"},
        )
    )
    session.flush()


def file_urgent(client: TestClient, key: str | None = None) -> tuple[dict[str, Any], Any]:
    """POST an urgent (P1) complaint with customer data; the answer's ticket and the response."""
    response = client.post(
        "/v1/tickets",
        json={"text": URGENT, "channel": "phone", **CUSTOMER},
        headers=headers("intake", **{"Idempotency-Key": key or uuid.uuid4().hex}),
    )
    assert response.status_code in (200, 201), response.text
    ticket: dict[str, Any] = response.json()
    assert ticket["tier"]["code"] == "P1"
    return ticket, response


def metric(client: TestClient, name: str) -> dict[str, float]:
    samples = {}
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            labels, value = line[len(name) :].rsplit(" ", 1)
            samples[labels.strip("{}")] = float(value)
    return samples


def test_an_urgent_intake_is_delivered_once_with_its_payload_and_headers_and_no_customer_data(
    notifying: Callable[..., TestClient], receiver: Receiver
) -> None:
    client = notifying()
    ticket, _ = file_urgent(client, key="urgent-1")
    assert outbox_rows(client) == 1  # written with the ticket
    assert receiver.received == []  # nothing sent by the request itself
    assert dispatch(client) == {"delivered": 1}

    assert len(receiver.received) == 1
    sent = receiver.received[0]
    assert [item["stage"] for item in ticket["history"]] == [URGENT_HEAD_ESCALATED]
    event_id = str(sent.json["event_id"])
    assert sent.headers["idempotency-key"] == sent.headers["x-triage-event-id"] == event_id
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["content-type"] == "application/json; charset=utf-8"
    body = sent.json
    assert body == {
        "event_id": body["event_id"],
        "kind": "urgent_head_escalated",
        "level": 2,
        "level_name": "部门负责人",
        "recipient": "技术部负责人",
        "ticket_no": ticket["ticket_no"],
        "tier": {"code": "P1", "name": body["tier"]["name"]},
        "category": {"code": ticket["category"]["code"], "name": ticket["category"]["name"]},
        "subtype": {"code": ticket["subtype"]["code"], "name": ticket["subtype"]["name"]},
        "department": {"code": "tech", "name": "技术部"},
        "escalated_at": "2026-11-23T10:00:00+08:00",
        "deadline": None,
        "trigger": "intake",
        "link": f"/console#{ticket['ticket_no']}",
        "summary": body["summary"],
    }
    assert body["summary"].startswith(f"【紧急投诉·部门负责人】{ticket['ticket_no']}（P1 ")
    raw = sent.body.decode("utf-8")
    for private in (PHONE, *CUSTOMER.values(), "热水器", "漏电", TOKEN):
        assert private not in raw, private

    # an idempotent replay of the intake records and sends nothing more
    again, response = file_urgent(client, key="urgent-1")
    assert response.status_code == 200 and again["ticket_no"] == ticket["ticket_no"]
    assert dispatch(client) == {}
    assert len(receiver.received) == 1 and outbox_rows(client) == 1
    (listed,) = notifications(client, "delivered")
    assert listed["event_id"] == body["event_id"] and listed["ticket_no"] == ticket["ticket_no"]
    assert (listed["state"], listed["attempts"], listed["last_error"], listed["recipient"]) == (
        "delivered",
        1,
        None,
        "技术部负责人",
    )
    assert notifications(client, "pending") == [] and notifications(client, "failed") == []
    assert metric(client, "triage_notification_attempts_total") == {'outcome="delivered"': 1.0}
    assert metric(client, "triage_notifications_undelivered") == {'state="pending"': 0.0, 'state="failed"': 0.0}


def test_the_services_own_dispatcher_is_woken_by_the_intake_and_does_not_wait_for_its_interval(
    notifying: Callable[..., TestClient], receiver: Receiver
) -> None:
    client = notifying(notify_interval_seconds=600)  # its first round, at start, found nothing
    time.sleep(0.5)
    started = time.monotonic()
    file_urgent(client)
    while not receiver.received and time.monotonic() - started < 30:
        time.sleep(0.01)
    assert len(receiver.received) == 1, "not delivered within 30 s, though the interval is 10 minutes"
    print(f"delivered {time.monotonic() - started:.3f} s after the intake was sent")
    create_ticket(client)  # no escalation: nothing queued, nothing sent
    time.sleep(0.5)
    assert len(receiver.received) == 1


def test_only_a_committed_transaction_that_queued_a_notification_wakes_the_dispatcher(
    notifying: Callable[..., TestClient], clock: Clock
) -> None:
    client = notifying()
    ticket = create_ticket(client)
    database = services_of(client).database
    assert database is not None
    woken: list[bool] = []
    stop = wake_on_commit(database.sessions, lambda: woken.append(True))
    try:
        for commit in (False, True):
            with database.session() as session:
                add_urgent_escalation(session, clock)
                if commit:
                    session.commit()
                else:
                    session.rollback()
                    session.commit()  # an empty transaction after the rollback: still nothing queued
            assert woken == ([True] if commit else [])
        read_ticket(client, ticket["ticket_no"])  # a request that queues nothing wakes nobody
        assert woken == [True]
    finally:
        stop()


def test_a_deadline_sweep_escalation_is_notified_once_to_the_supervisor_then_the_head(
    notifying: Callable[..., TestClient], receiver: Receiver, clock: Clock
) -> None:
    client = notifying()
    ticket = create_ticket(client)  # P2, 客服部 (nobody answers the service line)
    assert ticket["tier"]["code"] == "P2" and ticket["department"]["code"] == "cs"
    assert dispatch(client) == {}  # no escalation, nothing to tell
    sweeper = DeadlineSweeper(services_of(client), 0)
    clock.advance(minutes=100)  # 20 min before the P2 first response is due: near
    assert [item.level for item in sweeper.sweep_once()] == [1]
    assert dispatch(client) == {"delivered": 1}
    body = receiver.received[-1].json
    assert (body["kind"], body["level"], body["level_name"], body["recipient"]) == (
        "deadline_escalated",
        1,
        "上级主管",
        "客服主管",
    )
    assert body["deadline"] == {
        "kind": "first_response",
        "name": "首次响应",
        "due": "2026-11-23T12:00:00+08:00",
        "passed": False,
    }
    assert body["trigger"] is None and body["escalated_at"] == "2026-11-23T11:40:00+08:00"
    assert "即将到期" in body["summary"]

    clock.advance(minutes=30)  # now past due, unmet: to the department head
    assert [item.level for item in sweeper.sweep_once()] == [2]
    assert dispatch(client) == {"delivered": 1}
    head = receiver.received[-1].json
    assert (head["kind"], head["level"], head["recipient"], head["deadline"]["passed"]) == (
        "deadline_escalated",
        2,
        "客服经理",
        True,
    )
    assert len(receiver.received) == 2 and len({item.json["event_id"] for item in receiver.received}) == 2
    assert sweeper.sweep_once() == [] and dispatch(client) == {}


def test_a_review_that_makes_a_ticket_urgent_is_notified_with_its_trigger(
    notifying: Callable[..., TestClient], receiver: Receiver
) -> None:
    client = notifying()
    ticket = create_ticket(client)  # P2: nothing to tell
    response = client.post(
        f"/v1/tickets/{ticket['ticket_no']}/review",
        json={"action": "correct", "tier": "P1"},
        headers=headers("agent"),
    )
    assert response.status_code == 200, response.text
    assert dispatch(client) == {"delivered": 1}
    body = receiver.received[0].json
    assert (body["kind"], body["trigger"], body["level"], body["recipient"]) == (
        "urgent_head_escalated",
        "review",
        2,
        "客服经理",
    )
    assert "审核定为紧急后升级" in body["summary"] and "agent-tester" not in receiver.received[0].body.decode()


def test_a_receiver_answering_500_then_200_gets_the_same_event_again(
    notifying: Callable[..., TestClient], receiver: Receiver, clock: Clock
) -> None:
    client = notifying()
    receiver.statuses = [500]
    file_urgent(client)
    assert dispatch(client) == {"retry": 1}
    (pending,) = notifications(client, "pending")
    assert (pending["attempts"], pending["last_error"]) == (1, "HTTP 500")
    assert pending["next_attempt_at"] == "2026-11-23T10:00:30+08:00"  # the back-off: 30 s
    assert dispatch(client) == {}  # not before its time
    clock.advance(seconds=30)
    assert dispatch(client) == {"delivered": 1}
    first, second = receiver.received
    assert first.body == second.body
    assert first.headers["x-triage-event-id"] == second.headers["x-triage-event-id"]
    (delivered,) = notifications(client, "delivered")
    assert (delivered["attempts"], delivered["last_error"], delivered["next_attempt_at"]) == (2, None, None)
    assert metric(client, "triage_notification_attempts_total") == {
        'outcome="retry"': 1.0,
        'outcome="delivered"': 1.0,
    }


def verified_time(request: Received, secret: str) -> int:
    """What a gateway does with `X-Triage-Signature`: the signed time, if the HMAC of
    "<t>." + body under the secret is the header's v1 (else AssertionError)."""
    fields = dict(part.split("=", 1) for part in request.headers["x-triage-signature"].split(","))
    expected = hmac.new(secret.encode(), fields["t"].encode() + b"." + request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(fields["v1"], expected)
    return int(fields["t"])


def test_a_signing_secret_signs_each_attempt_with_its_own_time_and_the_secret_is_never_shown(
    notifying: Callable[..., TestClient], receiver: Receiver, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "sign-" + uuid.uuid4().hex
    client = notifying(notify_signing_secret=secret)
    receiver.statuses = [500]
    file_urgent(client)
    with caplog.at_level(logging.DEBUG):
        assert dispatch(client) == {"retry": 1}
        clock.advance(seconds=30)
        assert dispatch(client) == {"delivered": 1}
    first, second = receiver.received
    assert first.body == second.body
    assert verified_time(first, secret) == int(clock.now.timestamp()) - 30
    assert verified_time(second, secret) == int(clock.now.timestamp())  # a replay of `first` is 30 s old
    with pytest.raises(AssertionError):  # the same header does not vouch for another body or secret
        verified_time(Received(first.headers, first.body.replace(b'"level": 2', b'"level": 1')), secret)
    with pytest.raises(AssertionError):
        verified_time(first, secret[:-1] + "x")
    assert secret not in caplog.text and secret not in repr(services_of(client).settings)


def test_without_a_signing_secret_nothing_is_signed(notifying: Callable[..., TestClient], receiver: Receiver) -> None:
    client = notifying()
    file_urgent(client)
    assert dispatch(client) == {"delivered": 1}
    assert "x-triage-signature" not in receiver.received[0].headers


@pytest.mark.parametrize("secret", ["abc123", "x" * 31])
def test_a_signing_secret_shorter_than_32_characters_is_a_start_up_error_that_does_not_show_it(secret: str) -> None:
    with pytest.raises(ValidationError, match=f"must be at least 32 characters \\(got {len(secret)}\\)") as error:
        Settings(notify_url="http://127.0.0.1:9/hook", notify_signing_secret=secret)
    assert secret not in str(error.value)
    assert Settings(notify_signing_secret="  ").notify_signing_secret is None
    padded = "x" * 40 + " "
    with pytest.raises(ValidationError, match="begins or ends with whitespace") as error:
        Settings(notify_signing_secret=padded)
    assert padded not in str(error.value)


def test_an_unreachable_receiver_is_retried_with_back_off_then_failed(
    notifying: Callable[..., TestClient], clock: Clock
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = notifying(
        notify_url=f"http://127.0.0.1:{port}/hook",
        notify_max_attempts=3,
        notify_backoff_seconds=10,
        notify_backoff_max_seconds=15,
    )
    file_urgent(client)
    assert dispatch(client) == {"retry": 1}
    (pending,) = notifications(client, "pending")
    assert pending["last_error"].startswith("ConnectError")
    assert pending["next_attempt_at"] == "2026-11-23T10:00:10+08:00"
    clock.advance(seconds=10)
    assert dispatch(client) == {"retry": 1}
    assert notifications(client, "pending")[0]["next_attempt_at"] == "2026-11-23T10:00:25+08:00"  # 20 s capped at 15
    clock.advance(seconds=14)
    assert dispatch(client) == {}
    clock.advance(seconds=1)
    assert dispatch(client) == {"failed": 1}
    (failed,) = notifications(client, "failed")
    assert (failed["attempts"], failed["next_attempt_at"], failed["delivered_at"]) == (3, None, None)
    clock.advance(days=1)
    assert dispatch(client) == {}  # given up for good
    assert metric(client, "triage_notifications_undelivered") == {'state="pending"': 0.0, 'state="failed"': 1.0}
    assert metric(client, "triage_notification_attempts_total") == {'outcome="retry"': 2.0, 'outcome="failed"': 1.0}


@dataclass
class Trickler:
    """A receiver that answers 200, but its status line and headers a byte every 0.2 s for about
    6 s: each read is well within a 1 s timeout, the whole answer is not."""

    url: str
    proxied: bool
    tunnels: list[str]  # what the proxy was asked to CONNECT to


@pytest.fixture(params=["http", "https", "https through a proxy"])
def trickler(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Trickler]:
    """The receiver over plain HTTP, over TLS (a certificate made here, trusted through
    SSL_CERT_FILE), or over TLS through an HTTP proxy's CONNECT tunnel (HTTPS_PROXY), as a
    gateway reached from a network that allows only its proxy out."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    answer = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 30 + b"\r\nContent-Length: 0\r\n\r\n"
    tls = None
    if request.param != "http":
        if shutil.which("openssl") is None:
            pytest.skip("the openssl command is needed to make the receiver's test certificate")
        cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True,
        )  # fmt: skip
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(cert, key)
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    stop = threading.Event()
    servers: list[socket.socket] = []
    tunnels: list[str] = []

    def listen(handle: Callable[[socket.socket], None]) -> int:
        server = socket.create_server(("127.0.0.1", 0))
        servers.append(server)

        def accept() -> None:
            while not stop.is_set():
                try:
                    connection, _ = server.accept()
                except OSError:
                    return
                threading.Thread(target=handle, args=(connection,), daemon=True).start()

        threading.Thread(target=accept, daemon=True).start()
        port: int = server.getsockname()[1]
        return port

    def trickle(connection: socket.socket) -> None:
        stream = connection
        try:
            if tls is not None:
                stream = tls.wrap_socket(connection, server_side=True)
            stream.recv(65536)
            for byte in answer:
                if stop.wait(0.2):
                    return
                stream.sendall(bytes([byte]))
        except OSError:  # the client gave up
            pass
        finally:
            stream.close()
            connection.close()

    def pipe(source: socket.socket, sink: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                sink.sendall(data)
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
        source.close()  # each way closes what it read from: both ends, once both ways are done

    def tunnel(connection: socket.socket) -> None:
        head = b""
        with contextlib.suppress(OSError):
            while b"\r\n\r\n" not in head and (chunk := connection.recv(4096)):
                head += chunk
        upstream = None
        try:
            target = head.split()[1].decode()
            host, _, port = target.rpartition(":")
            upstream = socket.create_connection((host, int(port)))
            connection.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        except (IndexError, ValueError, OSError):  # no CONNECT came, or an end is gone
            for end in (connection, upstream):
                if end is not None:
                    end.close()
            return
        tunnels.append(target)
        threading.Thread(target=pipe, args=(connection, upstream), daemon=True).start()
        threading.Thread(target=pipe, args=(upstream, connection), daemon=True).start()

    port = listen(trickle)
    if request.param == "https through a proxy":
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{listen(tunnel)}")
    scheme = "http" if tls is None else "https"
    try:
        yield Trickler(f"{scheme}://127.0.0.1:{port}/hook", request.param == "https through a proxy", tunnels)
    finally:
        stop.set()
        for server in servers:
            server.close()


def test_a_receiver_trickling_its_answer_is_cut_at_twice_the_timeout(
    notifying: Callable[..., TestClient], trickler: Trickler
) -> None:
    client = notifying(notify_url=trickler.url, notify_timeout_seconds=1)
    file_urgent(client)
    assert dispatch(client) == {"retry": 1}  # without the cut, the whole answer (a 200) arrives after 6 s
    (pending,) = notifications(client, "pending")
    assert (pending["attempts"], pending["last_error"]) == (1, "no answer within 2 s")
    assert trickler.tunnels == ([trickler.url.split("/")[2]] if trickler.proxied else [])


def test_failed_notifications_are_sent_again_after_notify_retry(
    notifying: Callable[..., TestClient],
    receiver: Receiver,
    database_url: str,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = notifying(notify_max_attempts=1)
    receiver.statuses = [503, 503]  # the gateway is down: both given up at their only attempt
    file_urgent(client)
    file_urgent(client)
    assert dispatch(client) == {"failed": 2}
    monkeypatch.delenv("TRIAGE_NOTIFY_URL", raising=False)
    retried = runner.invoke(cli, ["notify-retry", "--database-url", database_url])
    assert retried.exit_code == 0, retried.output
    said = " ".join(retried.output.split())
    assert "queued 2 failed notification(s) again" in said and "TRIAGE_NOTIFY_URL is not set for this command" in said
    pending = notifications(client, "pending")
    assert [(item["attempts"], item["last_error"]) for item in pending] == [(0, "HTTP 503"), (0, "HTTP 503")]
    assert notifications(client, "failed") == []
    clock.now = datetime.now(UTC) + timedelta(minutes=1)  # the command queues them at the real time
    assert dispatch(client) == {"delivered": 2}
    assert len({item.headers["x-triage-event-id"] for item in receiver.received}) == 2 == len(receiver.received) / 2
    nothing = runner.invoke(cli, ["notify-retry", "--database-url", database_url])
    assert nothing.exit_code == 0 and "no failed notification to send again" in nothing.output


def test_delivered_notifications_are_deleted_after_the_days_kept_and_the_others_stay(
    notifying: Callable[..., TestClient], receiver: Receiver, clock: Clock
) -> None:
    client = notifying(notify_max_attempts=1, notify_keep_days=30)
    receiver.statuses = [200, 503]
    delivered, _ = file_urgent(client)
    file_urgent(client)
    assert dispatch(client) == {"delivered": 1, "failed": 1}
    clock.advance(days=29, hours=23)
    assert dispatch(client) == {}
    assert [item["state"] for item in notifications(client)] == ["failed", "delivered"]
    clock.advance(hours=2)
    assert dispatch(client) == {}
    assert [item["state"] for item in notifications(client)] == ["failed"]  # given up: kept for an operator
    stages = [event["stage"] for event in read_ticket(client, delivered["ticket_no"])["history"]]
    assert "urgent_head_escalated" in stages  # the escalation itself stays in the ticket's history


def test_a_pending_notification_shows_its_age_in_the_metrics(
    notifying: Callable[..., TestClient], receiver: Receiver, clock: Clock
) -> None:
    client = notifying()
    file_urgent(client)
    clock.advance(seconds=90)
    assert metric(client, "triage_oldest_pending_notification_age_seconds") == {"": 90.0}
    assert metric(client, "triage_notifications_undelivered") == {'state="pending"': 1.0, 'state="failed"': 0.0}
    dispatch(client)
    assert metric(client, "triage_oldest_pending_notification_age_seconds") == {}


def test_a_rolled_back_escalation_leaves_no_outbox_row(notifying: Callable[..., TestClient], clock: Clock) -> None:
    client = notifying()
    ticket = create_ticket(client)
    database = services_of(client).database
    assert database is not None
    with database.session() as session:
        add_urgent_escalation(session, clock)
        assert session.scalar(select(func.count()).select_from(Notification)) == 1  # in the transaction
        session.rollback()
    assert outbox_rows(client) == 0
    assert read_ticket(client, ticket["ticket_no"])["history"] == []


def test_with_notifications_off_nothing_is_recorded(
    make_client: Callable[..., TestClient], database_url: str, clock: Clock, receiver: Receiver
) -> None:
    client = make_client(database_url=database_url)
    file_urgent(client)
    create_ticket(client)
    clock.advance(hours=3)
    assert len(DeadlineSweeper(services_of(client), 0).sweep_once()) >= 2
    assert outbox_rows(client) == 0
    assert notifications(client) == []
    assert "triage_notifications_undelivered" not in client.get("/metrics").text
    assert receiver.received == []


def test_the_listing_says_whether_notifications_are_on(
    make_client: Callable[..., TestClient], notifying: Callable[..., TestClient]
) -> None:
    for client, switch in ((make_client(), "off"), (notifying(), "on")):
        for role in ("agent", "analyst"):
            response = client.get("/v1/notifications", params={"state": "failed"}, headers=headers(role))
            assert response.status_code == 200, response.text
            assert response.json() == {"items": [], "next_cursor": None, "total": 0}  # empty either way
            assert response.headers["x-triage-notifications"] == switch
    documented = client.get("/openapi.json").json()["paths"]["/v1/notifications"]["get"]["responses"]["200"]
    assert documented["headers"]["X-Triage-Notifications"]["schema"]["enum"] == ["on", "off"]


def test_triage_sweep_from_cron_records_the_notifications_the_service_sends(
    notifying: Callable[..., TestClient],
    receiver: Receiver,
    database_url: str,
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = notifying()
    create_ticket(client)  # P2, received at the test's clock: long past due at the real time `triage sweep` reads
    monkeypatch.setenv("TRIAGE_NOTIFY_URL", receiver.url)
    result = runner.invoke(cli, ["sweep", "--database-url", database_url])
    assert result.exit_code == 0, result.output
    assert "notifications recorded for the service to send" in result.output
    assert outbox_rows(client) == 4  # both deadlines, to the supervisor then the head
    clock.now = datetime.now(UTC) + timedelta(minutes=1)
    assert dispatch(client) == {"delivered": 4}
    assert {(item.json["deadline"]["kind"], item.json["level"]) for item in receiver.received} == {
        ("first_response", 1),
        ("first_response", 2),
        ("resolution", 1),
        ("resolution", 2),
    }


def test_triage_sweep_without_the_notify_url_says_that_its_escalations_are_not_notified(
    notifying: Callable[..., TestClient], database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # cron's environment is not the service's: escalations recorded without an outbox row are never
    # sent, so the command says so instead of leaving it to be found out
    client = notifying()
    create_ticket(client)
    monkeypatch.delenv("TRIAGE_NOTIFY_URL", raising=False)
    result = runner.invoke(cli, ["sweep", "--database-url", database_url])
    assert result.exit_code == 0, result.output
    assert "escalated 4 deadline(s)" in result.output and outbox_rows(client) == 0
    assert "not notified: TRIAGE_NOTIFY_URL is not set for this command" in " ".join(result.output.split())


@pytest.mark.parametrize("url", ["ftp://hooks.example.com/x", "hooks.example.com/x", "http://", "https://h:port/"])
def test_a_notify_url_that_is_not_http_is_a_start_up_error(url: str) -> None:
    with pytest.raises(ValidationError, match="must be an http:// or https:// URL with a host"):
        Settings(notify_url=url)


@pytest.mark.parametrize("url", ["https://hooks..example.com/send?key=s3cret", "http://h/\x7fs3cret"])
def test_a_notify_url_httpx_cannot_send_to_is_a_start_up_error_that_does_not_show_its_secret(url: str) -> None:
    with pytest.raises(ValidationError) as error:
        Settings(notify_url=url)
    assert "not a URL httpx can send to" in str(error.value) and "s3cret" not in str(error.value)


@pytest.mark.parametrize("token", ["s3cret\u200b", "s3cret token", "s3c\nret", "令牌"])
def test_a_token_an_http_header_cannot_carry_is_a_start_up_error(token: str) -> None:
    with pytest.raises(ValidationError, match="must be printable ASCII without spaces") as error:
        Settings(notify_url="http://127.0.0.1:9/hook", notify_token=token)
    assert token not in str(error.value)
    assert Settings(notify_url="http://127.0.0.1:9/hook", notify_token="  ").notify_token is None


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pw@hooks.example.com:8443/services/T0/B0/s3cret?key=k", "https://hooks.example.com:8443/…"),
        ("http://127.0.0.1:9", "http://127.0.0.1:9"),
        ("http://127.0.0.1:9/", "http://127.0.0.1:9"),
        ("hooks.example.com/s3cret", "hooks.example.com/…"),
    ],
)
def test_logs_and_errors_show_the_notify_url_without_its_path_query_or_user(url: str, shown: str) -> None:
    assert url_origin(url) == shown


def test_a_secret_in_the_webhook_url_stays_out_of_the_logs_even_at_info(
    notifying: Callable[..., TestClient], receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "key-" + uuid.uuid4().hex
    client = notifying(notify_url=f"{receiver.url}?key={secret}")
    file_urgent(client)
    with caplog.at_level(logging.DEBUG):  # a deployment whose root logger shows everything
        assert dispatch(client) == {"delivered": 1}
    assert receiver.received and caplog.records
    assert secret not in caplog.text


def test_the_token_is_never_shown(receiver: Receiver) -> None:
    settings = Settings(notify_url=receiver.url, notify_token=TOKEN)
    assert TOKEN not in repr(settings) and TOKEN not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("contacts", "message"),
    [
        ({"法务部": {"head": "x"}}, "escalation.yaml, contacts.法务部: '法务部' is not a department of the taxonomy"),
        ({"技术部": {"boss": "x"}}, "escalation.yaml, contacts.技术部: unknown key 'boss' (expected supervisor, head)"),
        ({"技术部": {"head": ""}}, "escalation.yaml, contacts.技术部.head: expected a name or id"),
        ({"技术部": {"head": "a"}, "tech": {"head": "b"}}, "contacts.tech: department 'tech' is given twice"),
        ({"技术部": "x"}, "escalation.yaml, contacts.技术部: expected a mapping"),
        (["技术部"], "escalation.yaml: 'contacts' must map departments"),
    ],
)
def test_bad_contacts_are_a_clear_error(taxonomy: Taxonomy, contacts: Any, message: str) -> None:
    raw = yaml.safe_load(DEFAULT_ESCALATION.read_text(encoding="utf-8"))
    raw["contacts"] = contacts
    with pytest.raises(EscalationConfigError) as error:
        parse_policy(raw, taxonomy, "escalation.yaml")
    assert message in str(error.value)


def test_an_unknown_department_in_contacts_stops_the_start(
    make_client: Callable[..., TestClient], tmp_path: Path, taxonomy: Taxonomy
) -> None:
    path = contacts_file(tmp_path, {"法务部": {"supervisor": "张三", "head": "李四"}})
    with pytest.raises(EscalationConfigError, match=f"{path}, contacts.法务部: '法务部' is not a department"):
        make_client(escalation_rules=path)
    known = parse_policy(yaml.safe_load(path.read_text(encoding="utf-8")) | {"contacts": {"cs": {"head": 7}}}, taxonomy)
    assert known.contacts["cs"].head == "7" and known.contacts["cs"].supervisor is None


def test_a_department_without_contacts_is_sent_with_no_recipient(
    notifying: Callable[..., TestClient], receiver: Receiver, tmp_path: Path
) -> None:
    client = notifying(escalation_rules=contacts_file(tmp_path, {"物流部": {"head": "物流经理"}}))
    file_urgent(client)
    assert dispatch(client) == {"delivered": 1}
    assert receiver.received[0].json["recipient"] is None


TRIALS = int(os.environ.get("NOTIFY_RACE_TRIALS", "30"))


def test_two_dispatchers_at_once_deliver_each_notification_once(
    notifying: Callable[..., TestClient], receiver: Receiver, database_url: str
) -> None:
    first, second = notifying(), notifying()  # two workers: two apps, two pools, one database
    for _ in range(12):
        file_urgent(first)
    receiver.delay = 0.002  # a receiver that takes its time widens the window of a double claim
    database = services_of(first).database
    assert database is not None
    trials = TRIALS if database.dialect == "postgresql" else max(3, TRIALS // 10)
    dispatchers = [dispatcher(first), dispatcher(second)]
    started = threading.Barrier(2)
    shares: list[tuple[int, int]] = []
    try:
        for trial in range(trials):
            receiver.received.clear()
            with database.session() as session:  # every row due again, as if just written
                session.execute(
                    update(Notification).values(
                        state="pending",
                        attempts=0,
                        next_attempt_at=Notification.created_at,
                        delivered_at=None,
                        last_error=None,
                    )
                )
                session.commit()
            done: list[dict[str, int]] = []

            def run(notifier: Notifier, done: list[dict[str, int]] = done) -> None:
                started.wait()
                done.append(dict(notifier.dispatch_once()))

            threads = [threading.Thread(target=run, args=(notifier,)) for notifier in dispatchers]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            sent = [item.json["event_id"] for item in receiver.received]
            assert len(sent) == len(set(sent)) == 12, f"trial {trial}: {sorted(sent)}"
            assert sum(outcomes.get("delivered", 0) for outcomes in done) == 12
            shares.append(tuple(outcomes.get("delivered", 0) for outcomes in done))  # type: ignore[arg-type]
            with database.session() as session:
                states = session.execute(select(Notification.state, Notification.attempts)).all()
            assert sorted(set(states)) == [("delivered", 1)], f"trial {trial}"
    finally:
        for notifier in dispatchers:
            notifier.close()
    print(f"{database.dialect}: {trials} trials, 12 rows each, split between the two dispatchers: {shares}")


def test_notifications_are_listed_newest_first_with_a_cursor(
    notifying: Callable[..., TestClient], receiver: Receiver
) -> None:
    client = notifying()
    tickets = [file_urgent(client)[0]["ticket_no"] for _ in range(3)]
    response = client.get("/v1/notifications?limit=2", headers=headers("agent"))
    assert response.status_code == 200
    page = response.json()
    assert [item["ticket_no"] for item in page["items"]] == tickets[::-1][:2]
    rest = client.get(f"/v1/notifications?limit=2&cursor={page['next_cursor']}", headers=headers("agent")).json()
    assert [item["ticket_no"] for item in rest["items"]] == tickets[:1] and rest["next_cursor"] is None
    wrong = client.get(f"/v1/notifications?state=failed&cursor={page['next_cursor']}", headers=headers("agent"))
    assert wrong.status_code == 422 and wrong.json()["detail"][0]["loc"] == ["query", "cursor"]
    assert client.get("/v1/notifications?state=lost", headers=headers("agent")).status_code == 422
    assert client.get("/v1/notifications", headers=headers("intake")).status_code == 403
    assert COMPLAINT["contact"] not in response.text


def test_the_listing_counts_every_notification_of_its_state_not_only_those_of_the_page(
    notifying: Callable[..., TestClient], receiver: Receiver, clock: Clock
) -> None:
    # the console's 发送失败 N badge reads `total` with a page of one (`?state=failed&limit=1`)
    client = notifying(notify_max_attempts=1)
    receiver.status = 500
    for _ in range(3):
        file_urgent(client)
    assert dispatch(client) == {"failed": 3}
    receiver.status = 200
    file_urgent(client)
    assert dispatch(client) == {"delivered": 1}
    file_urgent(client)  # pending: not tried yet

    def page(query: str) -> dict[str, Any]:
        response = client.get(f"/v1/notifications?{query}", headers=headers("agent"))
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    first = page("state=failed&limit=1")
    assert (len(first["items"]), first["total"]) == (1, 3) and first["next_cursor"]
    second = page(f"state=failed&limit=1&cursor={first['next_cursor']}")
    assert (len(second["items"]), second["total"]) == (1, 3)  # the whole listing's count on every page
    assert [page(f"state={state}&limit=1")["total"] for state in ("pending", "delivered")] == [1, 1]
    assert page("limit=1")["total"] == 5

    # beyond the longest page (200): still exact, not "200+"
    database = services_of(client).database
    assert database is not None
    with database.session() as session:
        for _ in range(200):
            add_urgent_escalation(session, clock)  # as reviews would, each with its outbox row
        session.commit()
    longest = page("state=pending&limit=200")
    assert (len(longest["items"]), longest["total"]) == (200, 201) and longest["next_cursor"]
    assert page("limit=1")["total"] == 205


@pytest.fixture
def dripping_receiver() -> Iterator[str]:
    """A receiver that answers 200 at once and then streams its body a byte every 0.1 s for 8 s
    (a log stream, a misconfigured endpoint): its URL."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(2)
                request = b""
                while b"\r\n\r\n" not in request:
                    request += connection.recv(65536)
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n")
                ends = time.monotonic() + 8
                try:
                    while time.monotonic() < ends and not stop.is_set():
                        connection.sendall(b"1\r\nx\r\n")
                        time.sleep(0.1)
                    connection.sendall(b"0\r\n\r\n")
                except OSError:  # the client hung up: what it should do
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/hook"
    finally:
        stop.set()
        thread.join(timeout=10)
        server.close()


def test_a_response_body_that_never_ends_does_not_hold_the_attempt_past_its_timeout(
    notifying: Callable[..., TestClient], dripping_receiver: str
) -> None:
    client = notifying(notify_url=dripping_receiver, notify_timeout_seconds=1)
    file_urgent(client)
    started = time.monotonic()
    assert dispatch(client) == {"delivered": 1}  # the status is the answer: the body is not read
    assert time.monotonic() - started < 3, "the attempt read the endless body"


def test_an_attempt_that_raises_is_recorded_as_failed_and_the_round_goes_on(
    notifying: Callable[..., TestClient], receiver: Receiver, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    # whatever an attempt meets (a payload that cannot be built, an error of the HTTP library that
    # is not an httpx.HTTPError) ends that attempt: counted, backed off, failed at the limit; the
    # rows after it are still sent, and the row does not come back every lease for ever
    import api.notifier

    client = notifying(notify_max_attempts=2)
    broken = file_urgent(client)[0]["ticket_no"]
    fine = file_urgent(client)[0]["ticket_no"]
    build = api.notifier.payload

    def payload(session: Any, event_id: int, **kwargs: Any) -> dict[str, Any]:
        body = build(session, event_id, **kwargs)
        if body["ticket_no"] == broken:
            raise ValueError(f"cannot build the payload of {PHONE}")
        return body

    monkeypatch.setattr(api.notifier, "payload", payload)
    assert dispatch(client) == {"retry": 1, "delivered": 1}
    assert [item.json["ticket_no"] for item in receiver.received] == [fine]
    (pending,) = notifications(client, "pending")
    assert (pending["ticket_no"], pending["attempts"], pending["last_error"]) == (broken, 1, "no payload: ValueError")
    clock.advance(seconds=30)
    assert dispatch(client) == {"failed": 1}
    clock.advance(days=1)
    assert dispatch(client) == {}
    (failed,) = notifications(client, "failed")
    assert (failed["ticket_no"], failed["attempts"]) == (broken, 2)


def test_codes_the_model_in_service_no_longer_has_are_sent_as_codes(
    notifying: Callable[..., TestClient], receiver: Receiver
) -> None:
    # a model swap removed the ticket's subtype (and its department): the notification still goes,
    # once, with the codes as their names, and the listing still lists it
    client = notifying()
    ticket = file_urgent(client)[0]
    database = services_of(client).database
    assert database is not None
    with database.session() as session:
        session.execute(update(Ticket).values(subtype="retired_subtype", department="retired_dept"))
        session.commit()
    assert dispatch(client) == {"delivered": 1}
    body = receiver.received[0].json
    assert body["subtype"] == {"code": "retired_subtype", "name": "retired_subtype"}
    assert body["department"] == {"code": "retired_dept", "name": "retired_dept"} and body["recipient"] is None
    assert f"{ticket['ticket_no']}（P1 " in body["summary"] and "/retired_subtype，retired_dept）" in body["summary"]
    assert [item["state"] for item in notifications(client)] == ["delivered"]


@pytest.mark.parametrize("name", ["notify_backoff_seconds", "notify_backoff_max_seconds"])
def test_a_back_off_beyond_a_week_is_a_start_up_error(name: str) -> None:
    # a wait "for ever" (1e12 s) overflowed the next attempt's time at the first failure: the
    # outcome was never recorded and the row came back every lease
    with pytest.raises(ValidationError, match=name):
        Settings(notify_url="http://127.0.0.1:9/hook", **{name: 1e12})
    assert Settings(notify_url="http://127.0.0.1:9/hook", **{name: 7 * 86400})


def test_a_redirect_is_not_followed_and_counts_as_a_failed_attempt(
    notifying: Callable[..., TestClient], receiver: Receiver
) -> None:
    client = notifying()
    receiver.statuses = [307]  # a redirect would resend the token to wherever it points
    file_urgent(client)
    assert dispatch(client) == {"retry": 1}
    assert len(receiver.received) == 1 and notifications(client, "pending")[0]["last_error"] == "HTTP 307"


def test_a_dispatcher_stopped_between_its_post_and_its_record_is_sent_again_after_the_lease(
    notifying: Callable[..., TestClient], receiver: Receiver, clock: Clock
) -> None:
    # at least once: the claim of a dispatcher that died keeps the others off the row until its lease ends
    client = notifying()
    file_urgent(client)
    database = services_of(client).database
    assert database is not None
    notifier = dispatcher(client)
    try:
        with database.notify_session() as session:
            (notification_id,) = due_ids(session, now=clock.now, limit=10)
            claimed = claim(session, notification_id=notification_id, now=clock.now, lease=notifier.lease)
        assert claimed is not None and claimed.attempt == 1  # … POSTed, and the process was killed
    finally:
        notifier.close()
    clock.advance(seconds=notifier.lease.total_seconds() - 1)
    assert dispatch(client) == {}
    clock.advance(seconds=1)
    assert dispatch(client) == {"delivered": 1}
    assert receiver.received[0].json["event_id"] == claimed.event_id
    (delivered,) = notifications(client, "delivered")
    assert delivered["attempts"] == 2


@pytest.mark.parametrize(
    "cursor",
    [
        *("%%%", "e30", "W10", "bnVsbA", "gA", "x" * 200),
        *("eyJ2IjoxLCJpZCI6LTEsInMiOiIifQ", "eyJ2IjoxLCJpZCI6dHJ1ZSwicyI6IiJ9"),
    ],
)
def test_a_tampered_cursor_is_a_422(notifying: Callable[..., TestClient], cursor: str) -> None:
    # {}, [], null, id -1, id true, bytes that are no UTF-8, and no base64 at all
    client = notifying()
    response = client.get("/v1/notifications", params={"cursor": cursor}, headers=headers("agent"))
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["query", "cursor"], response.text
