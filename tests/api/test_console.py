"""The agents' console at /console, served by the real app and driven in headless Chromium.

The app runs under uvicorn in a background thread on a free localhost port, with a real SQLite
file, the session's real model and review thresholds of 1.0 (every ticket goes to review).
Tickets are created through the API with the intake key; the browser logs in with the agent
key and works the queue like an agent (or with the analyst key reads the 统计 tab, checked against
`GET /v1/stats`); what it did is checked through the API afterwards.
Chromium is Debian's (`/usr/bin/chromium`): Playwright's own browser download is not used.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
import uvicorn
import yaml
from sqlalchemy import select

from api.db import Database
from api.deadline_sweeper import DeadlineSweeper
from api.deps import Services
from api.main import create_app
from api.middleware import OPEN_PATHS
from api.notifier import Notifier
from api.routers.console import CONSOLE_FILES
from api.schemas import ASPECT_NAMES, SURVEY_METHOD_NAMES, SurveyCreate
from api.services.deadline_escalation import sweep_deadlines
from api.services.urgent_escalation import INTAKE_ACTOR, URGENT_HEAD_ESCALATED
from api.settings import DEFAULT_ESCALATION, Settings
from api.tables import Ticket, TicketEvent

from .conftest import KEYS, Receiver, TestClient, headers

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT = Path("/tmp/console.png")
WAIT_MS = 15_000

LATE_PARCEL = "快递寄了一个星期还没送到，物流信息一直不更新，联系电话13912345678。"
RUDE_AGENT = "客服态度非常差，说话很不耐烦，还挂我电话，必须道歉！"
VAGUE = "东西还行吧。"
POINTS = "积分没有到账，请帮忙查一下，谢谢。"
CALLBACK = "客服说好三天内回电，结果没人联系我。"
FIVE_COMPLAINTS = (LATE_PARCEL, RUDE_AGENT, VAGUE, POINTS, CALLBACK)


# ------------------------------------------------------------------- without a browser
def test_the_console_files_are_served_without_a_key(client: TestClient) -> None:
    for path, (_, media_type) in CONSOLE_FILES.items():
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"] == media_type
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"
    page = client.get("/console").text
    assert "投诉审核台" in page and 'src="console/console.js"' in page
    assert "<script>" not in page, "inline script would be blocked by the page's own CSP"


def test_only_the_console_files_are_open_not_the_data_it_shows(client: TestClient) -> None:
    assert set(CONSOLE_FILES) <= OPEN_PATHS
    # a file the console does not have is not looked for on disk, with a key or without
    assert client.get("/console/other.js").status_code == 404
    assert client.get("/console/../static/console.js").status_code == 404
    assert client.get("/v1/review-queue").status_code == 401
    assert client.get("/v1/review-queue", headers=headers("agent")).status_code == 200


def test_the_console_with_a_trailing_slash_leads_to_the_console(client: TestClient) -> None:
    for method in ("GET", "HEAD"):
        moved = client.request(method, "/console/?tab=stats", follow_redirects=False)
        assert moved.status_code == 308, moved.text
        assert moved.headers["location"] == "../console?tab=stats"  # relative: a proxy's path prefix is kept
    arrived = client.get("/console/")
    assert arrived.status_code == 200 and str(arrived.url).endswith("/console") and "投诉审核台" in arrived.text


# ------------------------------------------------------------------------- in Chromium
class LaggingClock:
    """The live app's clock: the real time, `lag` behind (settable while the app runs)."""

    def __init__(self, lag: timedelta) -> None:
        self.lag = lag

    def __call__(self) -> datetime:
        return datetime.now(UTC) - self.lag


@dataclass
class LiveApp:
    """The real app served over HTTP, with a client that talks to it like any other."""

    url: str
    http: httpx.Client
    database_url: str
    clock: LaggingClock
    services: Services

    def create_ticket(self, text: str, **fields: Any) -> dict[str, Any]:
        """Create a ticket with the intake key."""
        response = self.http.post(
            "/v1/tickets",
            json={"text": text, "channel": "online", **fields},
            headers=headers("intake", **{"Idempotency-Key": uuid.uuid4().hex}),
        )
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    def ticket(self, ticket_no: str) -> dict[str, Any]:
        """The ticket as the agent's API shows it."""
        response = self.http.get(f"/v1/tickets/{ticket_no}", headers=headers("agent"))
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def review(self, ticket_no: str, **body: Any) -> dict[str, Any]:
        """Review a ticket as another agent would, through the API."""
        response = self.http.post(f"/v1/tickets/{ticket_no}/review", json=body, headers=headers("admin"))
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def record(self, ticket_no: str, stage: str, **fields: Any) -> dict[str, Any]:
        """Record a tracking stage as another agent would, through the API."""
        response = self.http.post(
            f"/v1/tickets/{ticket_no}/events", json={"stage": stage, **fields}, headers=headers("admin")
        )
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    def close(self, ticket_no: str, feedback: str = "satisfied", **fields: Any) -> None:
        """Resolve and close a ticket as another agent would, through the API."""
        self.record(ticket_no, "resolved", resolution="已补发商品")
        self.record(ticket_no, "closed", feedback=feedback, **fields)

    def survey(self, ticket_no: str, **body: Any) -> httpx.Response:
        """Record a survey of the ticket's closure as another agent would, through the API (the answer as is)."""
        return self.http.post(f"/v1/tickets/{ticket_no}/survey", json=body, headers=headers("admin"))

    def sweep_deadlines(self) -> list[str]:
        """One deadline sweep on the app's database at the app's time; the ticket numbers escalated."""
        database = Database(self.database_url)
        try:
            with database.session() as session:
                done = sweep_deadlines(session, now=self.clock(), share=0.2)
        finally:
            database.dispose()
        return [item.ticket_no for item in done]

    def dispatch_notifications(self) -> dict[str, int]:
        """One round of the service's own notification dispatcher at the app's time: outcomes and counts."""
        notifier = Notifier(self.services)
        try:
            return dict(notifier.dispatch_once())
        finally:
            notifier.close()

    def notifications(self, state: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """The escalation notifications as the API lists them, newest first (up to `limit`)."""
        params: dict[str, Any] = {"limit": limit, **({"state": state} if state else {})}
        response = self.http.get("/v1/notifications", params=params, headers=headers("agent"))
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    def queue(self) -> list[str]:
        """The ticket numbers of the review queue, in its order."""
        response = self.http.get("/v1/review-queue", params={"limit": 200}, headers=headers("agent"))
        assert response.status_code == 200, response.text
        return [item["ticket_no"] for item in response.json()["items"]]


@pytest.fixture
def gateway(receiver: Receiver) -> Receiver:
    """The notification gateway (a real HTTP server on 127.0.0.1), down (answers 500) until a test
    says otherwise; a test that asks for it gets a `live_app` that notifies it."""
    receiver.status = 500
    return receiver


NOTIFY_CONTACTS = {"技术部": {"supervisor": "技术部主管", "head": "技术部负责人"}}
"""Whom the notifications of 技术部 name (the other departments have nobody)."""


def notify_settings(gateway: Receiver, tmp_path: Path) -> dict[str, Any]:
    """Settings that send the notifications to `gateway`, giving each up after its first failed
    attempt, with `NOTIFY_CONTACTS`; no dispatcher in the background (the test runs its rounds)."""
    rules = yaml.safe_load(DEFAULT_ESCALATION.read_text(encoding="utf-8"))
    rules["contacts"] = NOTIFY_CONTACTS
    path = tmp_path / "escalation-contacts.yaml"
    path.write_text(yaml.safe_dump(rules, allow_unicode=True), encoding="utf-8")
    return {"notify_url": gateway.url, "notify_interval_seconds": 0, "notify_max_attempts": 1, "escalation_rules": path}


@pytest.fixture
def live_app(
    request: pytest.FixtureRequest, make_settings: Callable[..., Settings], tmp_path: Path
) -> Iterator[LiveApp]:
    """The app under uvicorn in a background thread, every ticket needing review.

    Parametrised indirectly with a `timedelta`, the app's clock runs that far behind the real
    one (its tickets were received that long ago, as the browser sees it). A test that also asks
    for the `gateway` fixture gets an app that notifies it (`notify_settings`); else notifications are off.
    """
    lag: timedelta = getattr(request, "param", timedelta(0))
    notify = notify_settings(request.getfixturevalue("gateway"), tmp_path) if "gateway" in request.fixturenames else {}
    settings = make_settings(threshold_category=1.0, threshold_subtype=1.0, threshold_tier=1.0, **notify)
    clock = LaggingClock(lag)
    app = create_app(settings, clock=clock)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", ws="none", lifespan="on"))
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert thread.is_alive(), "the app did not start (see the log above)"
        assert time.monotonic() < deadline, "the app did not start within 60 s"
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    try:
        with httpx.Client(base_url=url, timeout=30) as http:
            services: Services = app.state.services
            yield LiveApp(
                url=url, http=http, database_url=settings.resolved_database_url, clock=clock, services=services
            )
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """Debian's headless Chromium through Playwright (skipped when it is not installed)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium package to run the console tests")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def browser_tab(
    chromium: Any, live_app: LiveApp, width: int = 1440, height: int = 1000, timezone: str = "Asia/Shanghai"
) -> Iterator[Any]:
    """A fresh browser tab on the live app, `width` × `height`, its clock in `timezone`; fails the
    test on any script error or CSP violation."""
    context = chromium.new_context(
        base_url=live_app.url, viewport={"width": width, "height": height}, locale="zh-CN", timezone_id=timezone
    )
    context.set_default_timeout(WAIT_MS)
    tab = context.new_page()
    problems: list[str] = []
    tab.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    tab.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    yield tab
    context.close()
    # a 4xx answer the page asked for shows up as a console error: only script errors count
    scripts = [problem for problem in problems if "Failed to load resource" not in problem]
    assert not scripts, scripts


@pytest.fixture
def page(chromium: Any, live_app: LiveApp) -> Iterator[Any]:
    """A fresh browser tab on the live app, 1440 × 1000 (see `browser_tab`)."""
    with browser_tab(chromium, live_app) as tab:
        yield tab


def log_in(page: Any, key: str) -> None:
    """Open the console and log in with `key`."""
    page.goto("/console")
    page.fill("#api-key", key)
    page.click("#login")


def highlighted(page: Any) -> list[tuple[int, int, str, str]]:
    """The highlighted runs of the shown text: (start, end) in characters, their heads, their title."""
    runs: list[tuple[int, int, str, str]] = page.evaluate(
        """() => {
            let index = 0;
            const runs = [];
            for (const node of document.getElementById("ticket-text").childNodes) {
                const length = Array.from(node.textContent).length;
                if (node.nodeName === "MARK") runs.push([index, index + length, node.dataset.heads, node.title]);
                index += length;
            }
            return runs;
        }"""
    )
    return [tuple(run) for run in runs]  # type: ignore[misc]


def expected_highlights(ticket: dict[str, Any]) -> dict[str, set[int]]:
    """The characters each head's explanation terms cover in the ticket's masked text."""
    covered: dict[str, set[int]] = {}
    for head, terms in ticket["suggestion"]["explanation"].items():
        for term in terms:
            for span in term["spans"]:
                covered.setdefault(head, set()).update(range(span["start"], span["end"]))
    return covered


def test_an_agent_corrects_and_accepts_suggestions_in_the_browser(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    parcel = live_app.create_ticket(LATE_PARCEL, customer_id="C-2001")
    rude = live_app.create_ticket(RUDE_AGENT)
    vague = live_app.create_ticket(VAGUE)
    queue = live_app.queue()
    assert set(queue) == {parcel["ticket_no"], rude["ticket_no"], vague["ticket_no"]}

    # log in: the queue shows every ticket waiting for review, in the API's order
    log_in(page, KEYS["agent"])
    rows = page.locator("#queue-body tr")
    expect(rows).to_have_count(3)
    assert [rows.nth(index).get_attribute("data-ticket-no") for index in range(3)] == queue
    row = page.locator(f'#queue-body tr[data-ticket-no="{parcel["ticket_no"]}"]')
    expect(row.locator("td").nth(4).locator("div").first).to_have_text(parcel["subtype"]["name"])
    expect(row.locator(".excerpt")).to_have_text(parcel["text"][:24])
    expect(row.locator(".countdown").first).to_contain_text("剩余")

    # open a ticket: masked text, its explanation terms highlighted per head, the suggestion
    row.click()
    expect(page.locator("#ticket-no")).to_have_text(parcel["ticket_no"])
    shown = page.locator("#ticket-text")
    expect(shown).to_have_text(parcel["text"])
    assert "[PHONE]" in parcel["text"] and "13912345678" not in page.content()
    runs = highlighted(page)
    assert runs, "no term of the explanation is highlighted"
    for head, characters in expected_highlights(parcel).items():
        marked = {index for start, end, heads, _ in runs if head in heads.split() for index in range(start, end)}
        assert marked == characters, head
    assert all("权重" in title for *_, title in runs)
    suggestion = page.locator("#suggestion-body")
    expect(suggestion).to_contain_text(parcel["suggestion"]["subtype"]["name"])
    expect(suggestion).to_contain_text(f"{parcel['suggestion']['subtype']['probability'] * 100:.1f}%")
    expect(page.locator("#top-subtypes")).to_contain_text(parcel["suggestion"]["top_subtypes"][1]["name"])
    expect(page.locator("#sla-first")).to_contain_text("剩余")
    expect(page.locator("#sla-resolution")).to_contain_text("剩余")

    # correct it: another category (the subtype list follows it) and a less urgent tier
    assert parcel["tier"]["code"] != "P3"
    page.select_option("#correct-category", "after_sales")
    subtypes = page.locator("#correct-subtype option")
    expect(subtypes).to_have_count(4)  # nothing is chosen for the agent
    assert subtypes.all_inner_texts() == ["— 请选择子类 —", "退款退货", "维修保修", "价格费用"]
    page.click("#save-correction")
    expect(page.locator("#message")).to_contain_text("请选择子类")
    page.select_option("#correct-subtype", "refund_return")
    page.select_option("#correct-tier", "P3")
    expect(page.locator("#downgrade-hint")).to_be_visible()
    page.click("#save-correction")  # without a comment: the page says so before asking the API
    expect(page.locator("#message")).to_contain_text("调低级别需要在备注中说明原因")
    assert live_app.ticket(parcel["ticket_no"])["review"] is None
    page.fill("#correct-comment", "客户要的是退款，物流已经送到")
    page.click("#save-correction")
    expect(page.locator("#message")).to_contain_text("修改已保存")

    stored = live_app.ticket(parcel["ticket_no"])
    review = stored["review"]
    assert (review["category"]["code"], review["subtype"]["code"], review["tier"]["code"]) == (
        "after_sales",
        "refund_return",
        "P3",
    )
    assert review["reviewed_by"] == "agent-tester" and review["comment"] == "客户要的是退款，物流已经送到"
    assert (stored["subtype"]["code"], stored["tier"]["code"], stored["department"]["code"]) == (
        "refund_return",
        "P3",
        "after_sales",
    )
    assert stored["suggestion"]["subtype"]["code"] == parcel["suggestion"]["subtype"]["code"]
    expect(page.locator("#review-state")).to_contain_text("已审核：agent-tester")
    expect(page.locator("#history-body")).to_contain_text(f"子类 {parcel['subtype']['name']} → 退款退货")
    expect(rows).to_have_count(2)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # a reload keeps the session and the opened ticket, with the correction in place
    page.reload()
    expect(page.locator("#ticket-no")).to_have_text(parcel["ticket_no"])
    expect(page.locator("#suggestion-body tr").nth(1).locator("td").last).to_contain_text("退款退货")
    expect(page.locator("#review-state")).to_contain_text("备注：客户要的是退款，物流已经送到")
    expect(page.locator(f'#queue-body tr[data-ticket-no="{parcel["ticket_no"]}"]')).to_have_count(0)

    # one click accepts another ticket's suggestion, and the next one of the queue opens
    page.click(f'#queue-body tr[data-ticket-no="{rude["ticket_no"]}"]')
    expect(page.locator("#ticket-no")).to_have_text(rude["ticket_no"])
    page.click("#accept")
    expect(page.locator("#message")).to_contain_text("已确认模型建议")
    expect(page.locator("#ticket-no")).to_have_text(vague["ticket_no"])
    expect(page.locator("#message")).to_contain_text(f"已打开下一张待审核工单 {vague['ticket_no']}")
    accepted = live_app.ticket(rude["ticket_no"])["review"]
    assert accepted["action"] == "accept" and accepted["reviewed_by"] == "agent-tester"
    assert accepted["subtype"]["code"] == rude["subtype"]["code"] and accepted["tier"]["code"] == rude["tier"]["code"]
    assert live_app.queue() == [vague["ticket_no"]]
    expect(rows).to_have_count(1)

    # log out: the key is gone from the tab
    page.click("#logout")
    expect(page.locator("#login-view")).to_be_visible()
    assert page.evaluate("() => sessionStorage.length") == 0
    page.reload()
    expect(page.locator("#login-view")).to_be_visible()
    expect(page.locator("#console-view")).to_be_hidden()


def test_a_wrong_key_or_role_cannot_log_in(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    log_in(page, "not-a-configured-key")
    expect(page.locator("#message")).to_contain_text("API 密钥无效")
    expect(page.locator("#console-view")).to_be_hidden()
    page.fill("#api-key", KEYS["intake"])
    page.click("#login")
    expect(page.locator("#message")).to_contain_text("需要 agent 角色")
    expect(page.locator("#console-view")).to_be_hidden()
    assert page.evaluate("() => sessionStorage.length") == 0


@pytest.mark.parametrize("live_app", [timedelta(hours=10)], indirect=True)
def test_an_agent_sees_breached_deadlines_and_records_tracking_stages(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    ticket = live_app.create_ticket(RUDE_AGENT)  # received 10 hours ago: P2 answers within 2 h, resolves in 48 h
    assert ticket["tier"]["code"] == "P2"
    log_in(page, KEYS["agent"])
    row = page.locator(f'#queue-body tr[data-ticket-no="{ticket["ticket_no"]}"]')
    expect(row.locator(".countdown.overdue")).to_contain_text("响应 已超时 ")
    row.click()
    expect(page.locator("#sla-first")).to_contain_text("已超时 ")
    expect(page.locator("#sla-first")).to_contain_text(" 小时")
    expect(page.locator("#sla-resolution")).to_contain_text("剩余 ")
    expect(page.locator("#history-empty")).to_be_visible()

    page.select_option("#event-stage", "assigned")
    page.fill("#event-owner", "张三")
    page.click("#add-event")
    expect(page.locator("#message")).to_contain_text("已记录「已分派」")
    expect(page.locator("#history-body")).to_contain_text("负责人 张三")
    expect(page.locator("#ticket-status")).to_have_text("已分派")
    history = live_app.ticket(ticket["ticket_no"])["history"]
    assert [(event["stage"], event["owner"], event["actor"]) for event in history] == [
        ("assigned", "张三", "agent-tester")
    ]

    # the stages offered are those that may follow the ticket's status, as the API says
    allowed = [stage["code"] for stage in live_app.ticket(ticket["ticket_no"])["next_stages"]]
    assert "closed" not in allowed and "resolved" in allowed
    expect(page.locator("#event-stage option")).to_have_count(len(allowed))
    assert page.eval_on_selector_all("#event-stage option", "options => options.map(o => o.value)") == allowed

    # a stage the ticket's status does not allow (an option of an older page): the 409 is said in Chinese
    page.evaluate("() => document.getElementById('event-stage').append(new Option('已闭环', 'closed'))")
    page.select_option("#event-stage", "closed")
    expect(page.locator("#event-feedback-field")).to_be_visible()
    page.click("#add-event")
    message = page.locator("#message")
    expect(message).to_contain_text("与工单当前状态冲突")
    expect(message).to_contain_text("工单当前为「已分派」，不能记录「已闭环」")
    expect(message).to_contain_text("已解决")
    assert "cannot become" not in message.inner_text()
    assert len(live_app.ticket(ticket["ticket_no"])["history"]) == 1


def test_an_agent_sees_near_deadlines_and_tickets_escalated_to_the_supervisor(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    # received 100 minutes ago: a P2 first response (2 h) has 20 minutes left, less than 20 % of its window
    live_app.clock.lag = timedelta(minutes=100)
    escalated = live_app.create_ticket(RUDE_AGENT)
    live_app.clock.lag = timedelta(0)
    assert live_app.ticket(escalated["ticket_no"])["due_soon"] is True and escalated["tier"]["code"] == "P2"
    assert live_app.sweep_deadlines() == [escalated["ticket_no"]]
    live_app.clock.lag = timedelta(minutes=100)
    waiting = live_app.create_ticket(RUDE_AGENT, customer_id="C-3003")  # near too, not swept
    live_app.clock.lag = timedelta(0)
    log_in(page, KEYS["agent"])
    page.click("#tab-list")
    rows = page.locator("#list-body tr")
    expect(rows).to_have_count(2)
    row = page.locator(f'#list-body tr[data-ticket-no="{escalated["ticket_no"]}"]')
    expect(row.locator(".escalated-badge")).to_have_text("已升级主管")
    expect(row.locator(".countdown.soon")).to_contain_text("响应 剩余 ")
    other = page.locator(f'#list-body tr[data-ticket-no="{waiting["ticket_no"]}"]')
    expect(other.locator(".countdown.soon")).to_contain_text("响应 剩余 ")
    expect(other.locator(".escalated-badge")).to_have_count(0)
    page.check("#list-escalated")
    expect(rows).to_have_count(1)
    assert rows.first.get_attribute("data-ticket-no") == escalated["ticket_no"]
    page.uncheck("#list-escalated")
    page.check("#list-due-soon")
    expect(rows).to_have_count(2)
    page.check("#list-overdue")
    expect(page.locator("#list-empty")).to_be_visible()  # near, not yet past due
    page.uncheck("#list-overdue")
    expect(rows).to_have_count(2)

    page.locator(f'#list-body tr[data-ticket-no="{escalated["ticket_no"]}"]').click()
    expect(page.locator("#ticket-no")).to_have_text(escalated["ticket_no"])
    fact = page.locator("#ticket-facts dt", has_text="时限升级").locator("+ dd")
    expect(fact).to_contain_text("已自动升级至上级主管：首次响应时限")
    expect(page.locator("#sla-first")).to_have_class(re.compile(r"\bsoon\b"))
    expect(page.locator("#sla-first-due")).to_contain_text("已升级主管")
    expect(page.locator("#history-body")).to_contain_text("时限升级至主管")
    expect(page.locator("#history-body")).to_contain_text("临近，已自动升级至上级主管")
    page.locator(f'#list-body tr[data-ticket-no="{waiting["ticket_no"]}"]').click()
    expect(page.locator("#ticket-no")).to_have_text(waiting["ticket_no"])
    expect(page.locator("#ticket-facts dt", has_text="时限升级").locator("+ dd")).to_have_text("时限临近，尚未升级")


def test_a_deadline_passed_unmet_shows_the_escalation_to_the_department_head(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    # received 3 hours ago: its P2 first response (2 h) has passed unmet, so one sweep escalates it
    # to the supervisor and then to the department head
    live_app.clock.lag = timedelta(hours=3)
    late = live_app.create_ticket(RUDE_AGENT)
    live_app.clock.lag = timedelta(0)
    assert live_app.sweep_deadlines() == [late["ticket_no"]] * 2
    shown = live_app.ticket(late["ticket_no"])
    assert (shown["escalation_level"], shown["escalation_level_name"]) == (2, "部门负责人")
    assert [event["level"] for event in shown["history"] if event["deadline"]] == [1, 2]
    log_in(page, KEYS["agent"])
    page.click("#tab-list")
    badge = page.locator(f'#list-body tr[data-ticket-no="{late["ticket_no"]}"] .escalated-badge')
    expect(badge).to_have_text("已升级部门负责人")
    assert "已升级至部门负责人：首次响应时限" in (badge.get_attribute("title") or "")
    page.locator(f'#list-body tr[data-ticket-no="{late["ticket_no"]}"]').click()
    expect(page.locator("#ticket-no")).to_have_text(late["ticket_no"])
    expect(page.locator("#sla-first-due")).to_contain_text("已升级部门负责人")
    expect(page.locator("#history-body")).to_contain_text("仍未完成，已自动升级至部门负责人")


def test_an_urgent_ticket_shows_its_escalation_to_the_department_head_apart_from_the_deadlines(
    live_app: LiveApp, page: Any
) -> None:
    from playwright.sync_api import expect

    urgent = live_app.create_ticket("买的热水器用了两天就漏电，差点出事，要求上门检修。")
    plain = live_app.create_ticket(RUDE_AGENT, customer_id="C-3003")
    assert urgent["tier"]["code"] == "P1" and urgent["head_escalated_at"] and urgent["escalation_level"] == 2
    when = urgent["head_escalated_at"][:16].replace("T", " ")
    log_in(page, KEYS["agent"])
    page.click("#tab-list")
    row = page.locator(f'#list-body tr[data-ticket-no="{urgent["ticket_no"]}"]')
    badge = row.locator(".urgent-badge")
    expect(badge).to_have_text("紧急·已升级部门负责人")
    assert when in (badge.get_attribute("title") or "")
    expect(row.locator(".escalated-badge")).to_have_count(0)  # no deadline was escalated
    other = page.locator(f'#list-body tr[data-ticket-no="{plain["ticket_no"]}"]')
    expect(other.locator(".urgent-badge")).to_have_count(0)
    rows = page.locator("#list-body tr")
    page.check("#list-head-escalated")  # the department head was told: the urgent one only
    expect(rows).to_have_count(1)
    assert rows.first.get_attribute("data-ticket-no") == urgent["ticket_no"]
    page.check("#list-escalated")  # no deadline of it was escalated to the supervisor yet
    expect(page.locator("#list-empty")).to_be_visible()
    page.uncheck("#list-escalated")
    page.uncheck("#list-head-escalated")
    expect(rows).to_have_count(2)
    row.click()
    expect(page.locator("#ticket-no")).to_have_text(urgent["ticket_no"])
    expect(page.locator("#ticket-urgent")).to_be_visible()
    expect(page.locator("#ticket-urgent")).to_have_text("紧急·已升级部门负责人")
    assert when in (page.locator("#ticket-urgent").get_attribute("title") or "")
    expect(page.locator("#ticket-facts dt", has_text="时限升级").locator("+ dd")).to_have_text("未升级")
    history = page.locator("#history-body")
    expect(history).to_contain_text("紧急投诉升级至部门负责人")
    expect(history).to_contain_text("系统（紧急投诉升级）")
    other.click()
    expect(page.locator("#ticket-no")).to_have_text(plain["ticket_no"])
    expect(page.locator("#ticket-urgent")).to_be_hidden()


def test_a_decision_on_a_stale_page_is_refused_and_the_page_reloads(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    ticket = live_app.create_ticket(
        LATE_PARCEL,
        contact="13912345678",
        customer_name="王小明",
        location="杭州西湖区驿站",
        demand_note="今天必须送到",
    )
    log_in(page, KEYS["agent"])
    page.click(f'#queue-body tr[data-ticket-no="{ticket["ticket_no"]}"]')
    expect(page.locator("#ticket-no")).to_have_text(ticket["ticket_no"])
    expect(page.locator("#ticket-facts")).to_contain_text("王小明")  # the call-back details, for agents
    expect(page.locator("#ticket-facts")).to_contain_text("13912345678")
    # the other fields of the 客户投诉登记表: where, the demand in the customer's words, who received it
    for term, value in (("地点", "杭州西湖区驿站"), ("诉求说明", "今天必须送到"), ("接收人", "intake-tester")):
        expect(page.locator("#ticket-facts dt", has_text=term).locator("+ dd")).to_have_text(value)
    # another agent corrects the tier while this page still shows the suggestion
    other = live_app.review(ticket["ticket_no"], action="correct", tier="P1", comment="客户说孩子吃了")
    page.click("#accept")
    message = page.locator("#message")
    expect(message).to_contain_text("工单在本页打开后有了新的变化")
    expect(message).to_contain_text("admin-tester：已审核（修改标签：级别")  # who changed what, since the page read it
    expect(page.locator("#review-state")).to_contain_text("admin-tester")  # the page shows the ticket as it is now
    review = live_app.ticket(ticket["ticket_no"])["review"]
    assert review["action"] == "correct" and review["reviewed_by"] == "admin-tester"
    assert review["tier"]["code"] == other["tier"]["code"] == "P1"
    # now based on what it shows, the same click goes through
    page.click("#accept")
    expect(page.locator("#message")).to_contain_text("已确认当前标签")
    assert live_app.ticket(ticket["ticket_no"])["review"]["reviewed_by"] == "agent-tester"


def test_saving_again_after_a_stale_save_keeps_the_other_agents_labels(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    ticket = live_app.create_ticket(LATE_PARCEL)
    assert ticket["category"]["code"] == "logistics" and ticket["tier"]["code"] != "P1"
    log_in(page, KEYS["agent"])
    open_row(page, ticket["ticket_no"])
    page.select_option("#correct-tier", "P1")  # this agent changes only the tier
    page.fill("#correct-comment", "客户说包裹里是药品")
    # meanwhile another agent corrects the category and subtype
    live_app.review(ticket["ticket_no"], action="correct", category="after_sales", subtype="refund_return")

    page.click("#save-correction")
    expect(page.locator("#message")).to_contain_text("您填写的内容仍在表单中")
    # the form shows the other agent's labels, with this agent's own change and comment kept
    expect(page.locator("#correct-category")).to_have_value("after_sales")
    expect(page.locator("#correct-subtype")).to_have_value("refund_return")
    expect(page.locator("#correct-tier")).to_have_value("P1")
    expect(page.locator("#correct-comment")).to_have_value("客户说包裹里是药品")
    page.click("#save-correction")
    expect(page.locator("#message")).to_contain_text("修改已保存")
    stored = live_app.ticket(ticket["ticket_no"])
    assert (stored["category"]["code"], stored["subtype"]["code"], stored["tier"]["code"]) == (
        "after_sales",
        "refund_return",
        "P1",
    )

    # a category this agent chose is theirs to save: it stays over the other agent's
    other = live_app.create_ticket(LATE_PARCEL)
    page.fill("#open-number", other["ticket_no"])
    page.press("#open-number", "Enter")
    expect(page.locator("#ticket-no")).to_have_text(other["ticket_no"])
    page.select_option("#correct-category", "service")
    page.select_option("#correct-subtype", "slow_response")
    live_app.review(other["ticket_no"], action="correct", tier="P1", comment="客户情绪激动")
    page.click("#save-correction")
    expect(page.locator("#message")).to_contain_text("您填写的内容仍在表单中")
    expect(page.locator("#correct-category")).to_have_value("service")
    expect(page.locator("#correct-subtype")).to_have_value("slow_response")
    expect(page.locator("#correct-tier")).to_have_value("P1")
    page.click("#save-correction")
    expect(page.locator("#message")).to_contain_text("修改已保存")
    stored = live_app.ticket(other["ticket_no"])
    assert (stored["category"]["code"], stored["subtype"]["code"], stored["tier"]["code"]) == (
        "service",
        "slow_response",
        "P1",
    )


def test_a_stage_another_agent_recorded_meanwhile_is_not_swapped_for_another(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    ticket = live_app.create_ticket(LATE_PARCEL)
    log_in(page, KEYS["agent"])
    open_row(page, ticket["ticket_no"])
    page.select_option("#event-stage", "resolved")
    page.fill("#event-resolution", "已为客户办理退款")
    live_app.record(ticket["ticket_no"], "resolved", resolution="已补发商品")  # another agent, meanwhile

    page.click("#add-event")
    expect(page.locator("#message")).to_contain_text("在此期间")
    # 已解决 may not follow 已解决: the page does not choose 已闭环 (and 满意) in its place
    stage = page.locator("#event-stage")
    expect(stage).to_have_value("")
    expect(stage.locator("option").first).to_have_text("— 请选择环节（「已解决」已不能记录） —")
    page.click("#add-event")
    expect(page.locator("#message")).to_have_text("请选择要记录的环节。")
    stored = live_app.ticket(ticket["ticket_no"])
    assert [event["stage"] for event in stored["history"]] == ["resolved"]
    assert stored["status"]["code"] == "resolved"
    page.select_option("#event-stage", "closed")  # chosen on purpose, it is recorded
    page.click("#add-event")
    expect(page.locator("#message")).to_contain_text("已记录「已闭环」")
    assert live_app.ticket(ticket["ticket_no"])["status"]["code"] == "closed"


def test_every_ticket_can_be_listed_filtered_and_opened_by_number(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    done = live_app.create_ticket(RUDE_AGENT)
    live_app.review(done["ticket_no"], action="correct", tier="P1")  # reviewed: out of the queue
    waiting = live_app.create_ticket(LATE_PARCEL)
    log_in(page, KEYS["agent"])
    expect(page.locator("#queue-body tr")).to_have_count(1)
    page.click("#tab-list")
    rows = page.locator("#list-body tr")
    expect(rows).to_have_count(2)
    assert rows.first.get_attribute("data-ticket-no") == waiting["ticket_no"]  # newest first
    page.select_option("#list-tier", "P1")
    expect(rows).to_have_count(1)
    assert rows.first.get_attribute("data-ticket-no") == done["ticket_no"]
    rows.first.click()
    expect(page.locator("#ticket-no")).to_have_text(done["ticket_no"])
    page.fill("#open-number", waiting["ticket_no"].lower())
    page.press("#open-number", "Enter")
    expect(page.locator("#ticket-no")).to_have_text(waiting["ticket_no"])
    page.evaluate(f"() => {{ location.hash = '#{done['ticket_no']}'; }}")  # a link or Back
    expect(page.locator("#ticket-no")).to_have_text(done["ticket_no"])
    page.fill("#open-number", "TS-20990101-000001")
    page.press("#open-number", "Enter")
    expect(page.locator("#message")).to_contain_text("未找到")


def three_in_the_queue(live_app: LiveApp, page: Any) -> list[str]:
    """Three tickets created, an agent logged in with the three in the queue: their numbers in queue order."""
    from playwright.sync_api import expect

    for text in (LATE_PARCEL, RUDE_AGENT, VAGUE):
        live_app.create_ticket(text)
    queue = live_app.queue()
    log_in(page, KEYS["agent"])
    expect(page.locator("#queue-body tr")).to_have_count(3)
    return queue


def test_quick_presses_of_j_each_move_one_row(live_app: LiveApp, page: Any) -> None:
    # Each press stepped from the ticket shown, so presses made while the next one loaded were
    # lost or opened the same ticket again (8 quick presses stopped 2 rows short).
    from playwright.sync_api import expect

    for number in range(9):
        live_app.create_ticket(f"{LATE_PARCEL}订单尾号{number}。")
    queue = live_app.queue()
    log_in(page, KEYS["agent"])
    expect(page.locator("#queue-body tr")).to_have_count(9)
    page.locator("#queue-body").focus()
    for _ in range(7):
        page.keyboard.press("j")  # the first opens the first row, each other one the row below
    expect(page.locator("#ticket-no")).to_have_text(queue[6])
    expect(page.locator("#queue-body tr.selected")).to_have_count(1)
    assert page.locator("#queue-body tr.selected").get_attribute("data-ticket-no") == queue[6]
    page.wait_for_timeout(500)  # a late answer of an earlier press would show its ticket now
    expect(page.locator("#ticket-no")).to_have_text(queue[6])


def test_an_agent_works_the_queue_from_the_keyboard(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    queue = three_in_the_queue(live_app, page)
    ticket_no = page.locator("#ticket-no")

    page.keyboard.press("j")  # nothing open yet: the first of the queue
    expect(ticket_no).to_have_text(queue[0])
    page.keyboard.press("j")
    expect(ticket_no).to_have_text(queue[1])
    page.keyboard.press("k")
    expect(ticket_no).to_have_text(queue[0])
    page.keyboard.press("k")  # the first has no previous one: it stays open
    expect(ticket_no).to_have_text(queue[0])

    # letters typed into a field are text, not commands
    page.click("#correct-comment")
    page.keyboard.type("a j")
    expect(page.locator("#correct-comment")).to_have_value("a j")
    expect(ticket_no).to_have_text(queue[0])
    assert live_app.ticket(queue[0])["review"] is None

    page.locator("#ticket-heading").focus()
    asked: list[str] = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    page.keyboard.press("A")  # asks first (the comment typed above), then accepts, and the next of the queue opens
    expect(page.locator("#message")).to_contain_text("已确认模型建议")
    assert len(asked) == 1 and "备注" in asked[0] and "确认建议将放弃" in asked[0]
    expect(ticket_no).to_have_text(queue[1])
    assert live_app.ticket(queue[0])["review"]["action"] == "accept"
    assert live_app.queue() == queue[1:]

    page.keyboard.press("c")
    assert page.evaluate("() => document.activeElement.id") == "correct-category"
    page.locator("#ticket-heading").focus()
    page.keyboard.press("/")
    assert page.evaluate("() => document.activeElement.id") == "open-number"
    page.keyboard.type(queue[2])
    page.keyboard.press("Enter")
    expect(ticket_no).to_have_text(queue[2])


# ------------------------------------------------------------- forms, refusals, outages
def open_row(page: Any, ticket_no: str) -> None:
    """Click a ticket's row in the queue and wait for it to open."""
    from playwright.sync_api import expect

    page.click(f'#queue-body tr[data-ticket-no="{ticket_no}"]')
    expect(page.locator("#ticket-no")).to_have_text(ticket_no)


def test_the_tracking_form_starts_empty_for_every_other_ticket(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    queue = three_in_the_queue(live_app, page)
    asked: list[str] = []
    page.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    ticket_no = page.locator("#ticket-no")

    def type_an_event(ticket_no: str) -> None:
        page.select_option("#event-stage", "resolved")
        page.fill("#event-resolution", f"已为 {ticket_no} 的客户全额退款")
        page.fill("#event-note", f"{ticket_no} 的客户同意")

    def expect_it_empty() -> None:
        for field in ("#event-resolution", "#event-note", "#event-owner"):
            expect(page.locator(field)).to_have_value("")
        expect(page.locator("#event-stage")).to_have_value("assigned")  # the first stage the new ticket allows

    open_row(page, queue[0])
    type_an_event(queue[0])
    page.click(f'#queue-body tr[data-ticket-no="{queue[1]}"]')  # another row
    expect(ticket_no).to_have_text(queue[1])
    expect_it_empty()
    assert "处理结果、备注" in asked[-1] and f"打开工单 {queue[1]}" in asked[-1]
    type_an_event(queue[1])
    page.locator("#ticket-heading").focus()
    page.keyboard.press("j")  # the next one by key
    expect(ticket_no).to_have_text(queue[2])
    expect_it_empty()
    type_an_event(queue[2])
    page.fill("#open-number", queue[0])  # one by number
    page.press("#open-number", "Enter")
    expect(ticket_no).to_have_text(queue[0])
    expect_it_empty()
    type_an_event(queue[0])
    page.click("#accept")  # the next of the queue, opened after an accept
    expect(page.locator("#message")).to_contain_text(f"已打开下一张待审核工单 {queue[1]}")
    expect(ticket_no).to_have_text(queue[1])
    expect_it_empty()
    assert len(asked) == 4
    # nothing typed for one ticket was recorded on another
    for number in queue:
        assert [event["stage"] for event in live_app.ticket(number)["history"]] == (
            ["reviewed"] if number == queue[0] else []
        )
    type_an_event(queue[1])
    page.click("#add-event")
    expect(page.locator("#message")).to_contain_text(f"{queue[1]}：已记录「已解决」")
    [resolved] = live_app.ticket(queue[1])["history"]
    assert (resolved["resolution"], resolved["note"]) == (f"已为 {queue[1]} 的客户全额退款", f"{queue[1]} 的客户同意")


def test_an_unsaved_correction_is_not_dropped_without_asking(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    live_app.create_ticket(LATE_PARCEL)
    live_app.create_ticket(VAGUE)
    queue = live_app.queue()
    log_in(page, KEYS["agent"])
    open_row(page, queue[0])
    tier = live_app.ticket(queue[0])["tier"]["code"]
    other_tier = "P1" if tier != "P1" else "P2"
    page.select_option("#correct-tier", other_tier)
    page.fill("#correct-comment", "应升为一级：客户提到孩子受伤")
    asked: list[str] = []
    agree = {"now": False}

    def answer(dialog: Any) -> None:
        asked.append(dialog.message)
        if agree["now"]:
            dialog.accept()
        else:
            dialog.dismiss()

    page.on("dialog", answer)
    message = page.locator("#message")
    ticket_no = page.locator("#ticket-no")

    # declined: nothing happens, the page says it kept the correction and puts the focus on it
    page.locator("#ticket-heading").focus()
    page.keyboard.press("a")
    expect(message).to_contain_text(f"已保留工单 {queue[0]} 尚未保存的内容")
    assert page.evaluate("() => document.activeElement.id") == "correct-tier"
    page.click("#accept")
    page.locator("#ticket-heading").focus()
    page.keyboard.press("j")
    page.click(f'#queue-body tr[data-ticket-no="{queue[1]}"]')
    page.evaluate(f"() => {{ location.hash = '#{queue[1]}'; }}")
    expect(message).to_contain_text("再打开工单")
    page.wait_for_function("() => location.hash === '#' + document.getElementById('ticket-no').textContent")
    expect(ticket_no).to_have_text(queue[0])
    assert len(asked) == 5
    assert all("修改标签：级别" in question and "备注" in question for question in asked)
    assert live_app.ticket(queue[0])["review"] is None
    expect(page.locator("#correct-tier")).to_have_value(other_tier)
    expect(page.locator("#correct-comment")).to_have_value("应升为一级：客户提到孩子受伤")

    # agreed: the other ticket opens with its own labels in the form
    agree["now"] = True
    page.locator("#ticket-heading").focus()
    page.keyboard.press("j")
    expect(ticket_no).to_have_text(queue[1])
    expect(page.locator("#correct-tier")).to_have_value(live_app.ticket(queue[1])["tier"]["code"])
    expect(page.locator("#correct-comment")).to_have_value("")
    assert len(asked) == 6


def test_closing_the_tab_with_unsaved_input_asks_first(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    ticket = live_app.create_ticket(LATE_PARCEL)
    log_in(page, KEYS["agent"])
    open_row(page, ticket["ticket_no"])
    kinds: list[str] = []

    def stay(dialog: Any) -> None:
        kinds.append(dialog.type)
        dialog.dismiss()

    page.on("dialog", stay)
    page.fill("#event-note", "已致电客户，约明天上午回电")
    page.close(run_before_unload=True)  # the browser asks its own question; the agent stays
    expect(page.locator("#event-note")).to_have_value("已致电客户，约明天上午回电")
    assert kinds == ["beforeunload"] and not page.is_closed()
    page.fill("#event-note", "")  # nothing unsaved: the tab closes without a question
    page.close(run_before_unload=True)
    page.wait_for_event("close")
    assert kinds == ["beforeunload"]


def test_a_correction_survives_the_deadline_sweeps_change_and_the_page_says_what_changed(
    live_app: LiveApp, page: Any
) -> None:
    from playwright.sync_api import expect

    live_app.clock.lag = timedelta(minutes=100)  # the first response (2 h) is near: the sweep will escalate it
    ticket = live_app.create_ticket(RUDE_AGENT)
    live_app.clock.lag = timedelta(0)
    assert ticket["tier"]["code"] == "P2"
    log_in(page, KEYS["agent"])
    open_row(page, ticket["ticket_no"])
    page.select_option("#correct-tier", "P1")
    page.fill("#correct-comment", "客户情绪激动，提高级别")
    assert live_app.sweep_deadlines() == [ticket["ticket_no"]]  # meanwhile: a new revision of the ticket

    page.click("#save-correction")
    message = page.locator("#message")
    expect(message).to_contain_text("保存修改失败：工单在本页打开后有了新的变化")
    expect(message).to_contain_text("系统（时限升级）：时限升级至主管（首次响应时限")
    expect(message).to_contain_text("您填写的内容仍在表单中")
    assert "他人" not in message.inner_text()
    expect(page.locator("#correct-tier")).to_have_value("P1")
    expect(page.locator("#correct-comment")).to_have_value("客户情绪激动，提高级别")
    expect(page.locator("#history-body")).to_contain_text("系统（时限升级）")
    assert "deadline-sweep" not in page.locator("#history-body").inner_text()
    assert live_app.ticket(ticket["ticket_no"])["review"] is None

    page.click("#save-correction")  # checked, saved again
    expect(message).to_contain_text("修改已保存")
    stored = live_app.ticket(ticket["ticket_no"])
    assert stored["tier"]["code"] == "P1" and stored["review"]["comment"] == "客户情绪激动，提高级别"
    expect(page.locator("#correct-comment")).to_have_value("")


def test_a_correction_survives_logging_in_again(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    ticket = live_app.create_ticket(LATE_PARCEL)
    log_in(page, KEYS["agent"])
    open_row(page, ticket["ticket_no"])
    page.select_option("#correct-tier", "P1")
    page.fill("#correct-comment", "客户说孩子吃了")
    # the service's answer to a key it does not take (a revoked key), given once to the page's save
    refused = live_app.http.post(
        f"/v1/tickets/{ticket['ticket_no']}/review", json={"action": "accept"}, headers={"X-API-Key": "revoked-key"}
    )
    assert refused.status_code == 401
    page.route(
        f"**/v1/tickets/{ticket['ticket_no']}/review",
        lambda route: route.fulfill(status=401, body=refused.text, headers={"Content-Type": "application/json"}),
        times=1,
    )
    page.click("#save-correction")
    expect(page.locator("#login-view")).to_be_visible()
    expect(page.locator("#message")).to_contain_text("API 密钥无效（可能已被停用），请重新登录")
    page.fill("#api-key", KEYS["agent"])
    page.click("#login")
    expect(page.locator("#console-view")).to_be_visible()
    expect(page.locator("#ticket-no")).to_have_text(ticket["ticket_no"])
    expect(page.locator("#correct-tier")).to_have_value("P1")
    expect(page.locator("#correct-comment")).to_have_value("客户说孩子吃了")
    page.click("#save-correction")
    expect(page.locator("#message")).to_contain_text("修改已保存")
    assert live_app.ticket(ticket["ticket_no"])["review"]["comment"] == "客户说孩子吃了"


def test_a_key_refused_by_a_refresh_says_why_and_keeps_what_was_typed(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    ticket = live_app.create_ticket(LATE_PARCEL)
    log_in(page, KEYS["agent"])
    open_row(page, ticket["ticket_no"])
    page.select_option("#event-stage", "assigned")
    page.fill("#event-owner", "刘师傅")
    # the key expires while the agent types: the minute's refresh of the queue is the first to hear it
    refused = live_app.http.get("/v1/review-queue", headers={"X-API-Key": "expired-key"})
    assert refused.status_code == 401
    page.route(
        "**/v1/review-queue**",
        lambda route: route.fulfill(status=401, body=refused.text, headers={"Content-Type": "application/json"}),
        times=1,
    )
    page.evaluate("() => document.dispatchEvent(new Event('visibilitychange'))")  # the tab is shown again
    expect(page.locator("#login-view")).to_be_visible()
    note = page.locator("#login-expired")
    expect(note).to_contain_text("登录已失效：服务不再接受这个 API 密钥")
    expect(note).to_contain_text(f"工单 {ticket['ticket_no']} 尚未保存的内容仍保留在本页：处理进度（已分派）：负责人")

    page.fill("#api-key", KEYS["agent"])
    page.click("#login")
    expect(page.locator("#console-view")).to_be_visible()
    expect(note).to_be_hidden()
    expect(page.locator("#ticket-no")).to_have_text(ticket["ticket_no"])
    expect(page.locator("#event-owner")).to_have_value("刘师傅")
    page.click("#add-event")
    expect(page.locator("#message")).to_contain_text("已记录「已分派」")
    assert live_app.ticket(ticket["ticket_no"])["owner"] == "刘师傅"

    # logging out on purpose is no expiry: the log-in says nothing of one
    page.click("#logout")
    expect(page.locator("#login-view")).to_be_visible()
    expect(note).to_be_hidden()


def refuse_the_key_at_the_next_refresh(live_app: LiveApp, page: Any) -> None:
    """The key expires: the next refresh of the queue (the tab shown again) gets the service's 401."""
    refused = live_app.http.get("/v1/review-queue", headers={"X-API-Key": "expired-key"})
    assert refused.status_code == 401
    page.route(
        "**/v1/review-queue**",
        lambda route: route.fulfill(status=401, body=refused.text, headers={"Content-Type": "application/json"}),
        times=1,
    )
    page.evaluate("() => document.dispatchEvent(new Event('visibilitychange'))")


def test_nothing_of_a_refused_session_but_the_kept_input_stays_behind_the_log_in(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    ticket = live_app.create_ticket(LATE_PARCEL)["ticket_no"]
    other = live_app.create_ticket(RUDE_AGENT)["ticket_no"]
    log_in(page, KEYS["agent"])
    page.click("#tab-list")
    page.check("#list-overdue")  # the list, filtered (none is overdue)
    expect(page.locator("#list-empty")).to_be_visible()
    page.uncheck("#list-overdue")
    expect(page.locator("#list-body tr")).to_have_count(2)
    page.click(f'#list-body tr[data-ticket-no="{other}"]')
    page.select_option("#event-stage", "assigned")
    page.fill("#event-owner", "王五")
    page.click("#add-event")
    expect(page.locator("#message")).to_contain_text("已记录「已分派」")
    page.click(f'#list-body tr[data-ticket-no="{ticket}"]')
    expect(page.locator("#ticket-no")).to_have_text(ticket)
    page.fill("#correct-comment", "客户补充了订单截图")
    expect(page.locator("#model-version")).to_contain_text("模型版本")

    refuse_the_key_at_the_next_refresh(live_app, page)
    expect(page.locator("#login-view")).to_be_visible()
    expect(page.locator("#login-expired")).to_contain_text(f"工单 {ticket} 尚未保存的内容仍保留在本页：修改标签：备注")
    # beside the log-in: no model version, no message of the session that ended
    expect(page.locator("#model-version")).to_have_text("")
    expect(page.locator("#message")).to_be_hidden()
    # behind it: no rows, counts or failure of the lists; the open ticket and its input stay
    behind = page.evaluate(
        """() => ({
            rows: document.querySelectorAll("#queue-body tr, #list-body tr, #notifications-body tr").length,
            count: document.getElementById("queue-count").textContent,
            failed: document.getElementById("refresh-failed").textContent,
            comment: document.getElementById("correct-comment").value,
        })"""
    )
    assert behind == {"rows": 0, "count": "", "failed": "", "comment": "客户补充了订单截图"}, behind

    # the same agent again: the tab shown read anew, no failure said, the input where it was
    page.fill("#api-key", KEYS["agent"])
    page.click("#login")
    expect(page.locator("#console-view")).to_be_visible()
    expect(page.locator("#list-body tr")).to_have_count(2)
    expect(page.locator("#queue-count")).to_have_text("（2）")
    expect(page.locator("#refresh-failed")).to_be_hidden()
    expect(page.locator("#model-version")).to_contain_text("模型版本")
    expect(page.locator("#ticket-no")).to_have_text(ticket)
    expect(page.locator("#correct-comment")).to_have_value("客户补充了订单截图")


def test_another_person_logging_in_after_a_401_does_not_take_over_what_was_typed(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    ticket = live_app.create_ticket(LATE_PARCEL)["ticket_no"]
    log_in(page, KEYS["agent"])
    open_row(page, ticket)
    page.select_option("#correct-tier", "P1")
    page.fill("#correct-comment", "客户说孩子吃了")
    refuse_the_key_at_the_next_refresh(live_app, page)
    expect(page.locator("#login-expired")).to_contain_text("换用他人的密钥登录")

    # the supervisor (the admin's key, another name) logs in at the same browser
    page.fill("#api-key", KEYS["admin"])
    page.click("#login")
    expect(page.locator("#console-view")).to_be_visible()
    message = page.locator("#message")
    expect(message).to_contain_text(f"上一位登录者（agent-tester）在工单 {ticket} 尚未保存的内容已清除")
    expect(message).to_contain_text("修改标签：级别")
    expect(page.locator("#ticket-view")).to_be_hidden()
    assert page.evaluate("() => location.hash") == ""
    open_row(page, ticket)  # the ticket itself is theirs to review, from its own labels
    expect(page.locator("#correct-comment")).to_have_value("")
    assert page.locator("#correct-tier").input_value() == live_app.ticket(ticket)["tier"]["code"]
    page.click("#logout")  # nothing typed: no question
    expect(page.locator("#login-view")).to_be_visible()
    assert live_app.ticket(ticket)["review"] is None


def test_every_queue_row_shows_the_deadlines_the_api_gives(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    live_app.clock.lag = timedelta(hours=10)  # P2: first response due 2 h after receipt
    answered = live_app.create_ticket(RUDE_AGENT)
    late = live_app.create_ticket(RUDE_AGENT, customer_id="C-4001")
    live_app.clock.lag = timedelta(minutes=100)  # 20 minutes before the first response is due: near
    swept = live_app.create_ticket(RUDE_AGENT, customer_id="C-4002")
    live_app.clock.lag = timedelta(0)
    assert set(live_app.sweep_deadlines()) == {late["ticket_no"], swept["ticket_no"], answered["ticket_no"]}
    live_app.clock.lag = timedelta(minutes=100)
    near = live_app.create_ticket(RUDE_AGENT, customer_id="C-4003")  # near, not swept
    live_app.clock.lag = timedelta(0)
    fresh = live_app.create_ticket(VAGUE)
    live_app.record(answered["ticket_no"], "customer_contacted")  # answered 10 h after receipt: done, late
    response = live_app.http.get("/v1/review-queue", params={"limit": 200}, headers=headers("agent"))
    items = response.json()["items"]
    assert {item["ticket_no"] for item in items} == {
        ticket["ticket_no"] for ticket in (answered, late, swept, near, fresh)
    }

    log_in(page, KEYS["agent"])
    expect(page.locator("#queue-body tr")).to_have_count(len(items))
    now = datetime.now(UTC)
    seen: set[str] = set()
    for item in items:
        row = page.locator(f'#queue-body tr[data-ticket-no="{item["ticket_no"]}"]')
        for index, (prefix, sla) in enumerate((("响应 ", item["first_response"]), ("解决 ", item["resolution"]))):
            node = row.locator(".countdown").nth(index)
            text, classes = node.inner_text(), set(node.get_attribute("class").split())
            if sla["done_at"]:
                state = "done"
                assert text == prefix + ("已完成（超时）" if sla["state"] == "breached" else "已完成"), text
            elif datetime.fromisoformat(sla["due"]) < now:
                state = "overdue"
                assert text.startswith(prefix + "已超时 "), text
            else:
                state = "soon" if datetime.fromisoformat(sla["warn_at"]) <= now else "pending"
                assert text.startswith(prefix + "剩余 "), text
            assert classes & {"done", "overdue", "soon", "pending"} == {state}, (item["ticket_no"], text, classes)
            seen.add(state)
        badge = row.locator(".escalated-badge")
        if item["escalation_level"]:
            title = badge.get_attribute("title")
            for name, sla in (("首次响应", item["first_response"]), ("解决", item["resolution"])):
                if sla["escalated_at"]:
                    assert f"{name}时限 {sla['escalated_at'][:16].replace('T', ' ')}" in title, title
        else:
            expect(badge).to_have_count(0)
    assert seen == {"done", "overdue", "soon", "pending"}
    answered_row = page.locator(f'#queue-body tr[data-ticket-no="{answered["ticket_no"]}"]')
    expect(answered_row.locator(".countdown").first).to_have_text("响应 已完成（超时）")
    expect(page.locator(f'#queue-body tr[data-ticket-no="{near["ticket_no"]}"] .countdown.soon')).to_have_count(1)


def test_a_reload_while_the_service_cannot_be_reached_waits_for_it_with_the_key(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    ticket = live_app.create_ticket(LATE_PARCEL)
    log_in(page, KEYS["agent"])
    open_row(page, ticket["ticket_no"])
    page.route("**/v1/**", lambda route: route.abort("connectionrefused"))
    page.reload()
    offline = page.locator("#offline-view")
    expect(offline).to_be_visible()
    expect(offline).to_contain_text("无法连接服务")
    expect(offline).to_contain_text("每 10 秒自动重试")
    expect(page.locator("#login-view")).to_be_hidden()
    expect(page.locator("#console-view")).to_be_hidden()
    assert "登录失败" not in page.locator("body").inner_text()
    assert page.evaluate("() => sessionStorage.getItem('complaint-triage.api-key')") == KEYS["agent"]

    # a service that answers 503, or a gateway's error page: said in Chinese, never shown raw
    page.unroute("**/v1/**")
    unavailable = {"detail": [{"loc": [], "msg": "the database is unavailable", "type": "database_unavailable"}]}
    page.route("**/v1/**", lambda route: route.fulfill(status=503, json=unavailable))
    page.click("#retry")
    expect(offline).to_contain_text("数据库暂时不可用")
    page.unroute("**/v1/**")
    page.route(
        "**/v1/**",
        lambda route: route.fulfill(status=502, body="<html><h1>502 Bad Gateway</h1></html>", content_type="text/html"),
    )
    page.click("#retry")
    expect(offline).to_contain_text("HTTP 502")
    assert "Bad Gateway" not in offline.inner_text() and "登录失败" not in page.locator("body").inner_text()

    # back: the page gets in again by itself, with the kept key, and opens the ticket it showed
    page.unroute("**/v1/**")
    expect(page.locator("#console-view")).to_be_visible(timeout=20_000)
    expect(page.locator("#ticket-no")).to_have_text(ticket["ticket_no"])
    expect(offline).to_be_hidden()


def test_a_suggestion_for_a_text_the_model_cannot_judge_is_accepted_only_when_the_agent_vouches_for_it(
    live_app: LiveApp, page: Any
) -> None:
    from playwright.sync_api import expect

    ticket = live_app.create_ticket("😡😡😡😡")
    assert "not_judgeable:empty" in ticket["review_reasons"]
    log_in(page, KEYS["agent"])
    page.fill("#open-number", ticket["ticket_no"])
    page.press("#open-number", "Enter")
    expect(page.locator("#ticket-facts")).to_contain_text("没有可判断的文字（只有表情、符号或空白）")

    asked: list[str] = []
    answers = iter([False, True])

    def answer(dialog: Any) -> None:
        asked.append(dialog.message)
        if next(answers):
            dialog.accept()
        else:
            dialog.dismiss()

    page.on("dialog", answer)
    page.locator("#ticket-heading").focus()
    page.keyboard.press("A")  # the reflex: asked, declined, nothing stored
    expect(page.locator("#message")).to_contain_text("未确认：请阅读原文后在「修改标签」中选择正确的标签")
    assert len(asked) == 1 and "模型无法判断这条文本" in asked[0] and "训练标签" in asked[0]
    assert live_app.ticket(ticket["ticket_no"])["review"] is None

    page.click("#accept")  # asked again; the agent vouches for the labels this time
    expect(page.locator("#message")).to_contain_text("已确认模型建议")
    assert len(asked) == 2
    assert live_app.ticket(ticket["ticket_no"])["review"]["action"] == "accept"

    # a text the model judges is accepted without a question
    judged = live_app.create_ticket(LATE_PARCEL)
    page.fill("#open-number", judged["ticket_no"])
    page.press("#open-number", "Enter")
    expect(page.locator("#ticket-no")).to_have_text(judged["ticket_no"])
    page.click("#accept")
    expect(page.locator("#message")).to_contain_text("已确认模型建议")
    assert len(asked) == 2
    assert live_app.ticket(judged["ticket_no"])["review"]["action"] == "accept"


def test_a_review_without_a_comment_shows_no_null(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    ticket = live_app.create_ticket(VAGUE)
    live_app.review(ticket["ticket_no"], action="accept")
    log_in(page, KEYS["agent"])
    page.fill("#open-number", ticket["ticket_no"])
    page.press("#open-number", "Enter")
    state = page.locator("#review-state")
    expect(state).to_contain_text("已审核：admin-tester")
    assert "null" not in state.inner_text() and "备注" not in state.inner_text()


def test_the_apis_refusals_are_said_in_chinese(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    ticket = live_app.create_ticket(LATE_PARCEL)
    log_in(page, KEYS["agent"])
    open_row(page, ticket["ticket_no"])
    message = page.locator("#message")

    def said(text: str) -> None:
        expect(message).to_contain_text(text)
        assert not re.search(r"[a-z]{3,}", message.inner_text()), message.inner_text()  # no English of the API

    page.select_option("#event-stage", "assigned")
    page.fill("#event-owner", "\u200b\u200b")  # nothing visible: the API's empty-value error
    page.click("#add-event")
    said("负责人（不能只有空格或不可见字符）")
    page.fill("#event-owner", " ".join(["a@b.cn"] * 14))  # 97 characters, 111 once the addresses are masked
    page.click("#add-event")
    said("负责人过长：最多 100 字")
    page.fill("#event-owner", "")
    page.fill("#open-number", "TS-20990101-000001")
    page.press("#open-number", "Enter")
    said("没有这个工单号")
    assert live_app.ticket(ticket["ticket_no"])["history"] == []
    # a route the service does not have, asked the way the page asks
    answer = page.evaluate("() => api('GET', 'v1/no-such-route').catch((error) => [error.status, error.messages])")
    assert answer == [404, ["服务没有这个地址：页面可能与服务的版本不一致，请刷新页面。"]]


def test_answers_that_are_not_json_are_said_plainly(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    ticket = live_app.create_ticket(LATE_PARCEL)
    log_in(page, KEYS["agent"])
    path = f"**/v1/tickets/{ticket['ticket_no']}"
    message = page.locator("#message")
    maintenance = "<html>维护中</html>"
    page.route(path, lambda route: route.fulfill(status=200, body=maintenance, content_type="text/html"), times=1)
    page.fill("#open-number", ticket["ticket_no"])
    page.press("#open-number", "Enter")
    expect(message).to_contain_text("服务返回的内容无法识别")
    expect(page.locator("#ticket-view")).to_be_hidden()
    error_page = "<html><body><h1>502 Bad Gateway</h1>" + "nginx " * 100 + "</body></html>"
    page.route(path, lambda route: route.fulfill(status=502, body=error_page, content_type="text/html"), times=1)
    page.press("#open-number", "Enter")
    expect(message).to_contain_text("网关错误")
    assert "nginx" not in message.inner_text() and "<" not in message.inner_text()
    page.press("#open-number", "Enter")
    expect(page.locator("#ticket-no")).to_have_text(ticket["ticket_no"])


def test_the_correction_form_keeps_the_subtype_and_names_subtype_terms(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    parcel = live_app.create_ticket(LATE_PARCEL)
    advice = live_app.create_ticket("提个建议。")
    terms = [term for term in advice["suggestion"]["explanation"]["tier"] if term["kind"] == "subtype"]
    assert [term["term"] for term in terms if term["term"] == "other"] == ["other"]  # the subtype 其他, in 其他问题
    log_in(page, KEYS["agent"])
    open_row(page, advice["ticket_no"])
    expect(page.locator("#explanation-terms")).to_contain_text("其他（子类特征）")
    assert "大类特征" not in page.locator("#explanation-terms").inner_text()

    open_row(page, parcel["ticket_no"])
    subtype = parcel["subtype"]["code"]
    page.select_option("#correct-category", "after_sales")
    expect(page.locator("#correct-subtype")).to_have_value("")
    page.select_option("#correct-category", parcel["category"]["code"])  # back: the ticket's own subtype again
    expect(page.locator("#correct-subtype")).to_have_value(subtype)
    page.select_option("#correct-category", "after_sales")
    page.select_option("#correct-subtype", "billing")
    page.select_option("#correct-category", parcel["category"]["code"])
    page.select_option("#correct-category", "after_sales")  # and the one chosen in the other category
    expect(page.locator("#correct-subtype")).to_have_value("billing")


def test_a_tier_raised_by_a_rule_is_not_shown_as_an_agents_edit(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    ticket = live_app.create_ticket("会员自动扣费了，请帮忙查一下。")
    assert ticket["tier"]["code"] != ticket["suggestion"]["tier"]["code"]  # the model said less urgent
    [rule] = [rule for rule in ticket["escalations"] if rule["tier"] == ticket["tier"]["code"]]
    log_in(page, KEYS["agent"])
    open_row(page, ticket["ticket_no"])
    shown = page.locator("#suggestion-body tr").nth(2).locator("td").last
    expect(shown).to_contain_text(f"升级规则「{rule['name']}」")
    assert "✎" not in shown.inner_text()
    page.click("#accept")
    expect(page.locator("#message")).to_contain_text(f"已确认模型建议，及升级规则「{rule['name']}」提高的级别")


def test_a_pasted_comment_is_cut_to_the_apis_limit_and_the_page_says_so(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    ticket = live_app.create_ticket(LATE_PARCEL)
    log_in(page, KEYS["agent"])
    open_row(page, ticket["ticket_no"])
    assert page.get_attribute("#correct-comment", "maxlength") == "2000"
    page.focus("#correct-comment")
    page.evaluate(
        """text => {
            const data = new DataTransfer();
            data.setData("text/plain", text);
            const paste = new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true });
            document.getElementById("correct-comment").dispatchEvent(paste);
        }""",
        "很长的备注。" * 400,
    )
    assert len(page.input_value("#correct-comment")) == 2000
    expect(page.locator("#message")).to_contain_text("备注最多 2000 字：粘贴的内容有 400 字放不下")


def test_right_to_left_text_and_direction_controls_stay_inside_what_was_typed(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    # a right-to-left word (Hebrew) reorders the neutral characters next to it, and a RIGHT-TO-LEFT
    # OVERRIDE (U+202E) would turn the rest of its line around, wherever the service keeps it
    rtl = "\u202eשלום"
    created = live_app.create_ticket(f"{LATE_PARCEL}{rtl} 123", customer_name=f"王小明{rtl}", location=f"{rtl}杭州")
    live_app.record(created["ticket_no"], "assigned", owner=f"张三{rtl}", note=f"{rtl}请尽快 2")
    ticket = live_app.ticket(created["ticket_no"])
    [event] = ticket["history"]
    typed = [ticket["text"], ticket["customer_name"], ticket["location"], event["owner"], event["note"]]
    assert all("שלום" in value for value in typed)
    log_in(page, KEYS["agent"])
    open_row(page, ticket["ticket_no"])
    expect(page.locator("#history-body")).to_contain_text("请尽快")
    # every text holding such characters is inside an element isolated for direction that holds only what was typed
    holders: list[list[str]] = page.evaluate(
        """() => {
            const found = [];
            for (const root of [document.getElementById("ticket-view"), document.getElementById("queue-body")]) {
                const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
                while (walker.nextNode()) {
                    if (!/[\u0590-\u05ff\u202a-\u202e]/.test(walker.currentNode.data)) continue;
                    let node = walker.currentNode.parentElement;
                    while (node && !["isolate", "plaintext"].includes(getComputedStyle(node).unicodeBidi)) {
                        node = node.parentElement;
                    }
                    found.push([node ? node.tagName : "none", node ? node.textContent : ""]);
                }
            }
            return found;
        }"""
    )
    assert len(holders) >= 6, holders  # the text, the name, the place, the owner (twice), the note
    for tag, text in holders:
        assert any(value.startswith(text) for value in typed), (tag, text)


@pytest.mark.parametrize("live_app", [timedelta(days=3, hours=5)], indirect=True)
def test_the_queue_fits_its_card_at_1280_and_the_page_a_phone(chromium: Any, live_app: LiveApp) -> None:
    from playwright.sync_api import expect

    # received 3 days 5 hours ago: the longest countdowns ("已超时 3 天 3 小时"), each escalated
    for text in FIVE_COMPLAINTS:
        live_app.create_ticket(text, channel="social")
    live_app.clock.lag = timedelta(0)
    assert len(set(live_app.sweep_deadlines())) == 5  # both deadlines of each
    queue = live_app.queue()
    for width, height in ((1280, 800), (1400, 900), (390, 844)):
        with browser_tab(chromium, live_app, width, height) as tab:
            log_in(tab, KEYS["agent"])
            expect(tab.locator("#queue-body tr .escalated-badge")).to_have_count(5)
            open_row(tab, queue[0])
            scroll, table, box = tab.evaluate(
                """() => {
                    const table = document.getElementById("queue-table");
                    const box = table.parentElement;
                    return [box.scrollWidth, table.scrollWidth, box.clientWidth];
                }"""
            )
            assert table <= box and scroll <= box, (width, table, box)
            assert tab.evaluate("() => document.documentElement.scrollWidth") <= width, width


def test_at_1024_px_the_open_ticket_stays_beside_the_queue_while_j_walks_it(chromium: Any, live_app: LiveApp) -> None:
    from playwright.sync_api import expect

    for text in FIVE_COMPLAINTS * 3:  # a queue longer than the window
        live_app.create_ticket(text)
    queue = live_app.queue()
    with browser_tab(chromium, live_app, 1024, 768) as tab:
        log_in(tab, KEYS["agent"])
        expect(tab.locator("#queue-body tr")).to_have_count(len(queue))
        open_row(tab, queue[0])
        tab.locator("#ticket-heading").focus()
        for ticket_no in queue[1:12]:
            tab.keyboard.press("j")
            expect(tab.locator("#ticket-no")).to_have_text(ticket_no)
            where = tab.evaluate(
                """(ticketNo) => {
                    const box = (node) => node.getBoundingClientRect();
                    const [queue, ticket] = [document.querySelector(".queue"), document.getElementById("ticket-view")];
                    const row = document.querySelector(`#queue-body tr[data-ticket-no="${ticketNo}"]`);
                    const scroll = document.getElementById("queue-table").parentElement;
                    const page = document.documentElement;
                    return {
                        beside: box(ticket).left >= box(queue).right,
                        ticket: box(document.getElementById("ticket-heading")).top,
                        row: [box(row).top, box(row).bottom],
                        height: window.innerHeight,
                        sideways: scroll.scrollWidth > scroll.clientWidth || page.scrollWidth > page.clientWidth,
                    };
                }""",
                ticket_no,
            )
            # the ticket beside the queue, its heading in view; the row J went to in view too; nothing scrolls sideways
            assert where["beside"] and 0 <= where["ticket"] < where["height"] / 2, (ticket_no, where)
            assert where["row"][0] >= -1 and where["row"][1] <= where["height"] + 1, (ticket_no, where)  # its border
            assert not where["sideways"], (ticket_no, where)


# ------------------------------------------- the survey, the customer's words at closing, the time
SCORES = {"timeliness": 4, "effectiveness": 3, "attitude": 5, "overall": 4}
"""The scores the page's agent enters, by the API's field names."""


def open_number(page: Any, ticket_no: str) -> None:
    """Open a ticket by its number (a closed ticket is in no queue) and wait for it to open."""
    from playwright.sync_api import expect

    page.fill("#open-number", ticket_no)
    page.press("#open-number", "Enter")
    expect(page.locator("#ticket-no")).to_have_text(ticket_no)


def answer_survey(page: Any, scores: dict[str, int]) -> None:
    """Choose the survey form's scores."""
    for field, score in scores.items():
        page.check(f"#survey-{field}-{score}")


def test_an_agent_records_the_survey_of_the_latest_closure_and_earlier_ones_stay_listed(
    live_app: LiveApp, page: Any
) -> None:
    from playwright.sync_api import expect

    ticket_no = live_app.create_ticket(LATE_PARCEL)["ticket_no"]
    live_app.close(ticket_no, feedback="mostly")
    earlier = dict(timeliness=2, effectiveness=2, attitude=3, overall=2, comment="第一次处理太慢")
    assert live_app.survey(ticket_no, **earlier).status_code == 201
    live_app.record(ticket_no, "reopened", note="客户说包裹又丢了")
    live_app.close(ticket_no, feedback="satisfied")
    log_in(page, KEYS["agent"])
    open_number(page, ticket_no)

    # the survey of the reopened closure is listed, read-only; the form is for the latest closure
    records = page.locator("#survey-list .survey-record")
    expect(records).to_have_count(1)
    expect(records.first).to_have_attribute("data-current", "false")
    expect(records.first).to_contain_text("此前闭环的回访")
    expect(records.first).to_contain_text("整体满意度 2 分")
    expect(records.first).to_contain_text("其他建议：第一次处理太慢")
    assert records.first.locator("input, select, textarea, button").count() == 0
    form = page.locator("#survey-form")
    expect(form).to_be_visible()
    expect(page.locator("#survey-for")).to_contain_text("客户反馈 满意")
    # its choices are the API's codes with the API's Chinese names
    names = [label.inner_text().strip() for label in page.locator("#survey-scores .score-name").all()]
    assert names == [SurveyCreate.model_fields[field].description for field in SCORES]
    methods = page.eval_on_selector_all("#survey-method option", "options => options.map(o => [o.value, o.text])")
    assert methods == [["", "— 未记录 —"], *map(list, SURVEY_METHOD_NAMES.items())]
    for box in ("#survey-best", "#survey-improve"):
        aspects = page.eval_on_selector_all(
            f"{box} label", "labels => labels.map(l => [l.firstChild.value, l.textContent])"
        )
        assert aspects == [*map(list, ASPECT_NAMES.items())]
    assert page.get_attribute("#survey-comment", "maxlength") == "2000"

    # a score left out is said before the API is asked
    answer_survey(page, {field: score for field, score in SCORES.items() if field != "overall"})
    page.click("#save-survey")
    expect(page.locator("#message")).to_contain_text("请为「整体满意度」评分")
    assert page.evaluate("() => document.activeElement.id") == "survey-overall-1"
    # the API's 422 (a method of an older page) is said in Chinese, and what was entered stays
    page.evaluate("() => document.getElementById('survey-method').append(new Option('邮件', 'email'))")
    answer_survey(page, {"overall": SCORES["overall"]})
    page.select_option("#survey-method", "email")
    page.check('#survey-best input[value="result"]')
    page.fill("#survey-comment", "希望物流信息及时更新")
    page.click("#save-survey")
    message = page.locator("#message")
    expect(message).to_contain_text("录入满意度回访失败（输入有误）")
    expect(message).to_contain_text("回访方式不是可选的值")
    for field, score in SCORES.items():
        expect(page.locator(f"#survey-{field}-{score}")).to_be_checked()
    expect(page.locator('#survey-best input[value="result"]')).to_be_checked()
    expect(page.locator("#survey-comment")).to_have_value("希望物流信息及时更新")
    assert len(live_app.ticket(ticket_no)["surveys"]) == 1

    page.select_option("#survey-method", "phone")
    page.check('#survey-best input[value="attitude"]')
    page.check('#survey-improve input[value="response_speed"]')
    page.click("#save-survey")
    expect(message).to_contain_text(f"{ticket_no}：已录入满意度回访（整体满意度 4 分）")
    expect(form).to_be_hidden()
    expect(records).to_have_count(2)
    current = records.nth(1)
    expect(current).to_have_attribute("data-current", "true")
    expect(current).to_contain_text("回访人 agent-tester")
    expect(current).to_contain_text("处理及时性 4 分，解决方案有效性 3 分，服务态度 5 分，整体满意度 4 分")
    expect(current).to_contain_text("电话回访")
    expect(current).to_contain_text("最满意的环节：处理结果、服务态度")
    expect(current).to_contain_text("需改进的环节：响应速度")
    expect(current).to_contain_text("其他建议：希望物流信息及时更新")
    expect(page.locator("#ticket-facts dt", has_text="满意度回访").locator("+ dd")).to_contain_text("已回访")

    stored = live_app.ticket(ticket_no)
    survey = stored["survey"]
    assert {field: survey[field] for field in SCORES} == SCORES
    assert survey["method"]["code"] == "phone" and survey["surveyed_by"] == "agent-tester" and survey["current"]
    assert [aspect["code"] for aspect in survey["best_aspects"]] == ["result", "attitude"]
    assert [aspect["code"] for aspect in survey["improve_aspects"]] == ["response_speed"]
    assert survey["comment"] == "希望物流信息及时更新"
    assert [item["current"] for item in stored["surveys"]] == [False, True]
    assert stored["surveys"][0]["comment"] == "第一次处理太慢"
    expect(current).to_contain_text(survey["surveyed_at"][:16].replace("T", " "))


def test_the_console_opened_with_a_trailing_slash_loads_and_logs_in(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    page.goto("/console/")
    assert page.url == f"{live_app.url}/console"
    page.fill("#api-key", KEYS["agent"])
    page.click("#login")  # the page's script was found: it logs in
    expect(page.locator("#console-view")).to_be_visible()
    expect(page.locator("#login-view")).to_be_hidden()


def test_a_closure_takes_one_survey_and_a_second_is_refused_in_chinese(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    ticket_no = live_app.create_ticket(LATE_PARCEL)["ticket_no"]
    open_no = live_app.create_ticket(RUDE_AGENT)["ticket_no"]
    live_app.close(ticket_no)
    log_in(page, KEYS["agent"])
    open_number(page, ticket_no)
    form = page.locator("#survey-form")
    expect(form).to_be_visible()
    answer_survey(page, SCORES)
    # meanwhile another agent records the survey of this closure: the page's is refused, in Chinese
    assert live_app.survey(ticket_no, timeliness=5, effectiveness=5, attitude=5, overall=5).status_code == 201
    page.click("#save-survey")
    message = page.locator("#message")
    expect(message).to_contain_text("录入满意度回访失败（与工单当前状态冲突）")
    expect(message).to_contain_text("这次闭环已经录入过另一份满意度回访（内容不同）")
    expect(message).to_contain_text("admin-tester：录入满意度回访")  # what changed since the page read the ticket
    expect(form).to_be_hidden()  # the closure has its survey: no second one is offered
    records = page.locator("#survey-list .survey-record")
    expect(records).to_have_count(1)
    expect(records.first).to_contain_text("回访人 admin-tester")
    expect(records.first).to_contain_text("整体满意度 5 分")
    page.reload()
    expect(page.locator("#ticket-no")).to_have_text(ticket_no)
    expect(records).to_have_count(1)
    expect(form).to_be_hidden()

    # a second POST forced through a form shown by hand is refused by the API, said in Chinese
    page.evaluate("() => { document.getElementById('survey-form').hidden = false; }")
    answer_survey(page, SCORES)
    page.click("#save-survey")
    expect(message).to_contain_text("这次闭环已经录入过另一份满意度回访（内容不同）")
    expect(form).to_be_hidden()  # the ticket read again: still no form
    stored = live_app.ticket(ticket_no)
    assert [survey["surveyed_by"] for survey in stored["surveys"]] == ["admin-tester"]
    assert stored["survey"]["overall"] == 5

    # an open ticket is offered no survey; a forced one is refused as well
    open_row(page, open_no)
    expect(form).to_be_hidden()
    expect(records).to_have_count(0)
    expect(page.locator("#survey-empty")).to_be_visible()
    page.evaluate("() => { document.getElementById('survey-form').hidden = false; }")
    answer_survey(page, SCORES)
    page.click("#save-survey")
    expect(message).to_contain_text("工单尚未闭环，不能录入满意度回访")
    assert live_app.ticket(open_no)["surveys"] == []


def test_unsaved_survey_answers_are_not_dropped_without_asking(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    ticket_no = live_app.create_ticket(LATE_PARCEL)["ticket_no"]
    other_no = live_app.create_ticket(VAGUE)["ticket_no"]
    live_app.close(ticket_no)
    log_in(page, KEYS["agent"])
    open_number(page, ticket_no)
    page.check("#survey-attitude-5")
    page.fill("#survey-comment", "客服很耐心")
    asked: list[tuple[str, str]] = []
    agree = {"now": False}

    def answer(dialog: Any) -> None:
        asked.append((dialog.type, dialog.message))
        if agree["now"]:
            dialog.accept()
        else:
            dialog.dismiss()

    page.on("dialog", answer)
    page.click(f'#queue-body tr[data-ticket-no="{other_no}"]')
    expect(page.locator("#message")).to_contain_text(f"已保留工单 {ticket_no} 尚未保存的内容")
    assert asked == [("confirm", asked[0][1])] and "满意度回访：服务态度、其他建议" in asked[0][1]
    expect(page.locator("#ticket-no")).to_have_text(ticket_no)
    assert page.evaluate("() => document.activeElement.id") == "survey-attitude-5"
    expect(page.locator("#survey-attitude-5")).to_be_checked()
    expect(page.locator("#survey-comment")).to_have_value("客服很耐心")
    page.close(run_before_unload=True)  # closing the tab: the browser's own question, the agent stays
    expect(page.locator("#survey-comment")).to_have_value("客服很耐心")
    assert [kind for kind, _ in asked] == ["confirm", "beforeunload"] and not page.is_closed()

    agree["now"] = True
    page.click(f'#queue-body tr[data-ticket-no="{other_no}"]')
    expect(page.locator("#ticket-no")).to_have_text(other_no)
    assert len(asked) == 3
    open_number(page, ticket_no)  # nothing was entered for it now: no question, an empty form
    expect(page.locator("#survey-form")).to_be_visible()
    expect(page.locator("#survey-comment")).to_have_value("")
    assert page.locator("#survey-form input:checked").count() == 0
    assert len(asked) == 3 and live_app.ticket(ticket_no)["surveys"] == []


def test_the_customers_own_words_at_closing_reach_the_api_and_the_history(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    ticket_no = live_app.create_ticket(LATE_PARCEL)["ticket_no"]
    live_app.record(ticket_no, "resolved", resolution="已补发商品")
    log_in(page, KEYS["agent"])
    open_number(page, ticket_no)
    field = page.locator("#event-comment-field")
    page.select_option("#event-stage", "reopened")
    expect(field).to_be_hidden()
    page.select_option("#event-stage", "closed")
    expect(field).to_be_visible()
    expect(field).to_contain_text("客户意见")
    assert page.get_attribute("#event-comment", "maxlength") == "2000"
    page.select_option("#event-feedback", "mostly")
    page.fill("#event-comment", "东西到了，就是慢了点")
    page.fill("#event-note", "电话确认")
    page.click("#add-event")
    expect(page.locator("#message")).to_contain_text(f"{ticket_no}：已记录「已闭环」")
    expect(page.locator("#history-body")).to_contain_text(
        "客户反馈：基本满意；客户意见：东西到了，就是慢了点；备注：电话确认"
    )
    expect(page.locator("#event-comment")).to_have_value("")
    closed = live_app.ticket(ticket_no)["history"][-1]
    assert (closed["stage"], closed["feedback"]["code"], closed["comment"], closed["note"]) == (
        "closed",
        "mostly",
        "东西到了，就是慢了点",
        "电话确认",
    )
    expect(page.locator("#survey-form")).to_be_visible()  # now closed: its survey is due


def test_the_time_the_problem_happened_is_shown_in_the_business_time_zone(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    told = live_app.create_ticket(LATE_PARCEL, occurred_at="2026-11-20T01:30:00Z")["ticket_no"]
    untold = live_app.create_ticket(VAGUE)["ticket_no"]
    assert live_app.ticket(told)["occurred_at"].startswith("2026-11-20T09:30:00")  # Asia/Shanghai
    log_in(page, KEYS["agent"])
    open_row(page, told)
    fact = page.locator("#ticket-facts dt", has_text="发生时间").locator("+ dd")
    expect(fact).to_have_text("2026-11-20 09:30")
    open_row(page, untold)
    expect(fact).to_have_text("—")


# ------------------------------------------------------------ the lists refresh on their own
REFRESH_MS = 60_000
"""How often the console reads the queue and the ticket list again (console.js `REFRESH_MS`)."""

QUEUE_PAGE = 50
"""The rows of one page of the console's queue (console.js `QUEUE_PAGE`)."""

PAGE_LIMIT = 200
"""The most rows the API gives in one page (console.js `PAGE_LIMIT`)."""


def set_tab_visible(page: Any, visible: bool) -> None:
    """Make the tab look hidden or shown again to the page (as switching tabs does), with its event."""
    page.evaluate(
        """(visible) => {
            const value = visible ? "visible" : "hidden";
            Object.defineProperty(document, "visibilityState", { configurable: true, get: () => value });
            document.dispatchEvent(new Event("visibilitychange"));
        }""",
        visible,
    )


def test_the_queue_refreshes_on_its_own_and_keeps_the_open_ticket_and_what_was_typed(
    live_app: LiveApp, page: Any
) -> None:
    from playwright.sync_api import expect

    first = live_app.create_ticket(LATE_PARCEL)["ticket_no"]
    # The page's time stands still but when the test runs it: left to flow at the real pace, the
    # seconds the log-in takes on a loaded machine made the first refresh come before the minute.
    now = datetime.now(UTC)
    page.clock.install(time=now)
    page.clock.pause_at(now + timedelta(seconds=1))
    log_in(page, KEYS["agent"])
    open_row(page, first)
    page.fill("#correct-comment", "客户要求今天内回电")
    rows = page.locator("#queue-body tr")
    expect(rows).to_have_count(1)

    second = live_app.create_ticket(RUDE_AGENT)["ticket_no"]  # meanwhile, at the intake
    page.clock.run_for(REFRESH_MS - 1000)
    page.wait_for_timeout(500)
    expect(rows).to_have_count(1)  # not before the minute is up
    page.clock.run_for(1000)
    expect(page.locator(f'#queue-body tr[data-ticket-no="{second}"]')).to_be_visible()
    expect(rows).to_have_count(2)
    expect(page.locator("#queue-count")).to_have_text("（2）")
    # the open ticket, its form, the focus and the marked row are as they were
    expect(page.locator("#ticket-no")).to_have_text(first)
    expect(page.locator("#correct-comment")).to_have_value("客户要求今天内回电")
    assert page.evaluate("() => document.activeElement.id") == "correct-comment"
    expect(page.locator(f'#queue-body tr[data-ticket-no="{first}"]')).to_have_class(re.compile(r"\bselected\b"))

    # a hidden tab does not refresh; shown again, it does at once
    set_tab_visible(page, False)
    third = live_app.create_ticket(VAGUE)["ticket_no"]
    page.clock.run_for(REFRESH_MS)
    page.wait_for_timeout(500)
    expect(rows).to_have_count(2)
    set_tab_visible(page, True)
    expect(page.locator(f'#queue-body tr[data-ticket-no="{third}"]')).to_be_visible()
    expect(rows).to_have_count(3)

    # a refresh that fails is said quietly, under the tabs; the rows stay, and the next one catches up
    page.route("**/v1/review-queue*", lambda route: route.fulfill(status=503, body="upstream down"))
    fourth = live_app.create_ticket(POINTS)["ticket_no"]
    page.clock.run_for(REFRESH_MS)
    expect(page.locator("#refresh-failed")).to_be_visible()
    expect(page.locator("#refresh-failed")).to_contain_text("列表更新失败")
    expect(page.locator("#message")).to_be_hidden()
    expect(rows).to_have_count(3)
    page.unroute("**/v1/review-queue*")
    page.clock.run_for(REFRESH_MS)
    expect(page.locator(f'#queue-body tr[data-ticket-no="{fourth}"]')).to_be_visible()
    expect(page.locator("#refresh-failed")).to_be_hidden()
    expect(page.locator("#correct-comment")).to_have_value("客户要求今天内回电")
    assert live_app.ticket(first)["review"] is None


def test_the_times_of_the_browsers_own_clock_are_shown_in_the_business_time_zone(
    chromium: Any, live_app: LiveApp
) -> None:
    from playwright.sync_api import expect

    live_app.create_ticket(LATE_PARCEL)
    # 16:30:15 UTC: 00:30 the next day in Shanghai (the service's zone), 08:30 in Los Angeles (the browser's)
    moment = datetime(2026, 12, 7, 16, 30, 15, tzinfo=UTC)
    with browser_tab(chromium, live_app, timezone="America/Los_Angeles") as tab:
        tab.clock.set_fixed_time(moment)
        log_in(tab, KEYS["agent"])
        expect(tab.locator("#queue-body tr")).to_have_count(1)
        tab.route("**/v1/review-queue*", lambda route: route.fulfill(status=503, body="upstream down"))
        tab.evaluate("() => document.dispatchEvent(new Event('visibilitychange'))")  # a refresh, which fails
        expect(tab.locator("#refresh-failed")).to_contain_text("列表更新失败（00:30）")

        # a reload while the service cannot be reached says when it last tried, in the same zone
        tab.route("**/v1/**", lambda route: route.abort("connectionrefused"))
        tab.reload()
        expect(tab.locator("#offline-when")).to_contain_text("最近一次尝试：00:30:15。")


def test_a_recorded_stage_and_a_review_show_in_the_tickets_rows(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    ticket = live_app.create_ticket(RUDE_AGENT)
    ticket_no = ticket["ticket_no"]
    live_app.create_ticket(LATE_PARCEL)
    log_in(page, KEYS["agent"])
    page.click("#tab-list")
    row = page.locator(f'#list-body tr[data-ticket-no="{ticket_no}"]')
    status = row.locator("td").nth(5)
    expect(status).to_have_text("已登记")
    row.click()
    expect(page.locator("#ticket-no")).to_have_text(ticket_no)

    page.select_option("#event-stage", "assigned")
    page.fill("#event-owner", "张三")
    page.click("#add-event")
    expect(page.locator("#message")).to_contain_text("已记录「已分派」")
    expect(status).to_have_text("已分派")
    expect(row).to_have_class(re.compile(r"\bselected\b"))

    other_tier = "P1" if ticket["tier"]["code"] != "P1" else "P2"
    page.select_option("#correct-tier", other_tier)
    page.fill("#correct-comment", "客户投诉服务态度，按规定调整级别")
    page.click("#save-correction")
    expect(page.locator("#message")).to_contain_text("修改已保存")
    expect(row.locator(".tier")).to_have_class(re.compile(rf"\btier-{other_tier}\b"))
    assert live_app.ticket(ticket_no)["tier"]["code"] == other_tier
    # the queue row went with the review (as before), the list row stays
    expect(page.locator(f'#queue-body tr[data-ticket-no="{ticket_no}"]')).to_have_count(0)
    expect(page.locator("#list-body tr")).to_have_count(2)


def test_the_queue_count_says_when_there_is_more_and_a_refresh_keeps_as_many_rows(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    texts = FIVE_COMPLAINTS
    for index in range(QUEUE_PAGE + 1):
        live_app.create_ticket(texts[index % len(texts)])
    page.clock.install()
    log_in(page, KEYS["agent"])
    rows = page.locator("#queue-body tr")
    expect(rows).to_have_count(QUEUE_PAGE)
    expect(page.locator("#queue-count")).to_have_text(f"（{QUEUE_PAGE}+）")
    page.click("#queue-more")
    expect(rows).to_have_count(QUEUE_PAGE + 1)
    expect(page.locator("#queue-count")).to_have_text(f"（{QUEUE_PAGE + 1}）")
    expect(page.locator("#queue-more")).to_be_hidden()

    # a row far down has the focus, the page is scrolled to it: a refresh keeps both, and reads as
    # many rows as were shown (a newcomer ahead of them pushes the last one behind 加载更多)
    focused = rows.nth(40)
    focused_no = focused.get_attribute("data-ticket-no")
    focused.focus()
    focused.scroll_into_view_if_needed()
    scrolled = page.evaluate("() => window.scrollY")
    assert scrolled > 0
    newest = live_app.create_ticket("快递员态度恶劣，包裹被扔在门口摔坏了。")["ticket_no"]
    page.clock.run_for(REFRESH_MS)
    expect(page.locator(f'#queue-body tr[data-ticket-no="{newest}"]')).to_have_count(1)
    expect(rows).to_have_count(QUEUE_PAGE + 1)
    expect(page.locator("#queue-count")).to_have_text(f"（{QUEUE_PAGE + 1}+）")
    expect(page.locator("#queue-more")).to_be_visible()
    assert page.evaluate("() => document.activeElement.dataset.ticketNo") == focused_no
    assert page.evaluate("() => window.scrollY") == scrolled


def test_an_accept_deep_in_a_long_queue_opens_the_next_ticket_and_keeps_every_row(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    count = PAGE_LIMIT + 30  # more than the API gives in one page
    for index in range(count):
        live_app.create_ticket(f"{FIVE_COMPLAINTS[index % len(FIVE_COMPLAINTS)]}（第{index + 1}次来电）")
    page.clock.install()
    log_in(page, KEYS["agent"])
    rows = page.locator("#queue-body tr")
    for shown in range(QUEUE_PAGE, count, QUEUE_PAGE):
        expect(rows).to_have_count(shown)
        page.click("#queue-more")
    expect(rows).to_have_count(count)
    queue = [rows.nth(index).get_attribute("data-ticket-no") for index in range(count)]
    assert queue == live_app.queue() + queue[PAGE_LIMIT:]  # the API's order, page after page

    # accept the 216th: the 217th opens, and the queue still shows every row loaded
    rows.nth(215).click()
    expect(page.locator("#ticket-no")).to_have_text(queue[215])
    page.keyboard.press("a")
    expect(page.locator("#message")).to_contain_text(f"已打开下一张待审核工单 {queue[216]}")
    expect(page.locator("#ticket-no")).to_have_text(queue[216])
    expect(rows).to_have_count(count - 1)
    expect(page.locator("#queue-count")).to_have_text(f"（{count - 1}）")

    # the minute's refresh reads them all again too: another agent's review of a row far down shows
    live_app.review(queue[225], action="accept")
    page.clock.run_for(REFRESH_MS)
    expect(page.locator(f'#queue-body tr[data-ticket-no="{queue[225]}"]')).to_have_count(0)
    expect(rows).to_have_count(count - 2)


# ------------------------------------------------------------------- escalation notifications
URGENT = "买的热水器用了两天就漏电，差点出事，要求上门检修。"


def test_failed_and_pending_notifications_are_shown_counted_on_their_tab_and_open_their_ticket(
    gateway: Receiver, live_app: LiveApp, page: Any
) -> None:
    from playwright.sync_api import expect

    page.clock.install()
    log_in(page, KEYS["agent"])
    expect(page.locator("#queue-empty")).to_be_visible()
    tab = page.locator("#tab-notifications")
    badge = page.locator("#notifications-failed")
    expect(tab).to_contain_text("升级通知")
    expect(badge).to_be_hidden()  # nothing failed
    tab.click()
    expect(page.locator("#notifications-empty")).to_have_text("暂无升级通知。")  # on, but none yet
    expect(page.locator("#notifications-off")).to_be_hidden()
    expect(page.locator("#notifications-table")).to_be_hidden()
    page.click("#tab-queue")

    # an urgent ticket is escalated to the head of 技术部 at intake; the gateway is down: given up
    failed = live_app.create_ticket(URGENT)
    assert failed["tier"]["code"] == "P1" and failed["department"]["name"] == "技术部"
    assert live_app.dispatch_notifications() == {"failed": 1}
    assert len(gateway.received) == 1
    pending = live_app.create_ticket(URGENT)  # queued, not tried yet
    page.clock.run_for(REFRESH_MS)  # the console's own refresh
    expect(badge).to_be_visible()  # seen from the queue, without opening the tab
    expect(badge).to_have_text("发送失败 1")
    expect(page.locator("#queue-panel")).to_be_visible()

    tab.click()
    rows = page.locator("#notifications-body tr")
    expect(rows).to_have_count(2)
    listed = live_app.notifications()
    assert [item["ticket_no"] for item in listed] == [pending["ticket_no"], failed["ticket_no"]]  # newest first
    new, old = rows.nth(0), rows.nth(1)
    assert new.get_attribute("data-ticket-no") == pending["ticket_no"]
    cells = [new.locator("td").nth(index) for index in range(8)]
    expect(cells[1]).to_have_text(pending["ticket_no"])
    expect(cells[2]).to_have_text("紧急投诉·部门负责人")
    expect(cells[3]).to_have_text("技术部负责人")
    expect(cells[4]).to_have_text("待发送")
    expect(cells[5]).to_have_text("0")
    expect(cells[6]).to_have_text("—")
    next_attempt = listed[0]["next_attempt_at"]
    expect(cells[7]).to_have_text(next_attempt[:16].replace("T", " "))  # the business time zone, as sent
    old_cells = [old.locator("td").nth(index) for index in range(8)]
    expect(old_cells[1]).to_have_text(failed["ticket_no"])
    expect(old_cells[4]).to_have_text("发送失败")
    expect(old_cells[5]).to_have_text("1")
    expect(old_cells[6]).to_have_text("通知网关返回错误（HTTP 500）")
    assert old_cells[6].get_attribute("title") == "HTTP 500"  # the dispatcher's own words, for IT
    expect(old_cells[7]).to_have_text("—")
    expect(page.locator("#notifications-more")).to_be_hidden()

    page.select_option("#notifications-state", "failed")
    expect(rows).to_have_count(1)
    assert rows.first.get_attribute("data-ticket-no") == failed["ticket_no"]
    page.select_option("#notifications-state", "delivered")
    expect(page.locator("#notifications-empty")).to_have_text("没有「已送达」的升级通知。")
    page.select_option("#notifications-state", "")
    expect(rows).to_have_count(2)

    # the pending one fails too, a third is delivered: the refresh shows both, and the count
    assert live_app.dispatch_notifications() == {"failed": 1}
    gateway.status = 200
    delivered = live_app.create_ticket(URGENT)
    assert live_app.dispatch_notifications() == {"delivered": 1}
    page.clock.run_for(REFRESH_MS)
    expect(badge).to_have_text("发送失败 2")
    expect(rows).to_have_count(3)
    expect(rows.nth(0).locator("td").nth(4)).to_have_text("已送达")
    assert rows.nth(0).get_attribute("data-ticket-no") == delivered["ticket_no"]
    expect(rows.nth(1).locator("td").nth(4)).to_have_text("发送失败")

    # the ticket number opens the ticket, as a #TS-… link does
    page.locator(f'#notifications-body tr[data-ticket-no="{failed["ticket_no"]}"] a').click()
    expect(page.locator("#ticket-no")).to_have_text(failed["ticket_no"])
    assert page.evaluate("() => location.hash") == f"#{failed['ticket_no']}"
    expect(page.locator("#notifications-panel")).to_be_visible()  # the agent stays on the notifications


def test_why_a_notification_failed_is_said_in_chinese(gateway: Receiver, live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    def dispatch(**changed: Any) -> dict[str, int]:
        """One round of the real dispatcher, with some of the app's notification settings changed."""
        settings = live_app.services.settings.model_copy(update=changed)
        notifier = Notifier(dataclasses.replace(live_app.services, settings=settings))
        try:
            return dict(notifier.dispatch_once())
        finally:
            notifier.close()

    gateway.delay = 1.0  # the gateway takes longer than the dispatcher waits
    slow = live_app.create_ticket(URGENT)
    assert dispatch(notify_timeout_seconds=0.2) == {"failed": 1}
    with socket.socket() as closed:  # a port where nothing listens any more
        closed.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{closed.getsockname()[1]}"
    unreachable = live_app.create_ticket(URGENT)
    assert dispatch(notify_url=f"{nowhere}/hooks/escalation") == {"failed": 1}
    errors = {item["ticket_no"]: item["last_error"] for item in live_app.notifications()}
    assert errors == {slow["ticket_no"]: "timeout after 0.2 s", unreachable["ticket_no"]: f"ConnectError ({nowhere}/…)"}

    log_in(page, KEYS["agent"])
    page.click("#tab-notifications")
    for ticket_no, said in (
        (slow["ticket_no"], "通知网关 0.2 秒内没有应答"),
        (unreachable["ticket_no"], f"无法连接通知网关 {nowhere}，或连接中断"),
    ):
        cell = page.locator(f'#notifications-body tr[data-ticket-no="{ticket_no}"] td').nth(6)
        expect(cell).to_have_text(said)
        assert cell.get_attribute("title") == errors[ticket_no]


def test_the_failed_count_is_exact_beyond_the_longest_page(gateway: Receiver, live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    # one urgent ticket filed, then escalated to the head 200 times more (as reviews would record
    # it), and every notification given up: more failed ones than the longest page (200)
    ticket = live_app.create_ticket(URGENT)
    database = live_app.services.database
    assert database is not None
    with database.session() as session:
        ticket_id = session.scalar(select(Ticket.id).where(Ticket.ticket_no == ticket["ticket_no"]))
        for _ in range(200):
            details = {"level": 2, "tier": "P1", "trigger": "review"}
            session.add(
                TicketEvent(
                    ticket_id=ticket_id,
                    stage=URGENT_HEAD_ESCALATED,
                    from_status="received",
                    actor=INTAKE_ACTOR,
                    at=live_app.clock(),
                    owner=None,
                    note=None,
                    details=details,
                )
            )
        session.commit()
    given_up = 0
    while outcome := live_app.dispatch_notifications():  # the gateway is down
        given_up += outcome["failed"]
    assert given_up == 201
    asked: list[dict[str, list[str]]] = []
    page.on("request", lambda request: asked.append(parse_qs(urlsplit(request.url).query)))
    log_in(page, KEYS["agent"])
    badge = page.locator("#notifications-failed")
    expect(badge).to_have_text("发送失败 201")  # exact: not "200+"
    expect(badge).to_have_attribute("title", re.compile("^201 条升级通知发送失败"))
    counted = [query for query in asked if query.get("state") == ["failed"]]
    assert counted and all(query["limit"] == ["1"] for query in counted), counted  # a page of one row


def test_deadline_notifications_name_their_level_and_say_when_nobody_is_named(
    gateway: Receiver, live_app: LiveApp, page: Any
) -> None:
    from playwright.sync_api import expect

    # received 3 hours ago: its first response has passed unmet, one sweep escalates it to the
    # supervisor and the department head of 客服部, whom the escalation file does not name
    live_app.clock.lag = timedelta(hours=3)
    late = live_app.create_ticket(RUDE_AGENT)
    live_app.clock.lag = timedelta(0)
    swept = DeadlineSweeper(live_app.services, 0).sweep_once()  # the service's own sweep: it notifies
    assert [item.ticket_no for item in swept] == [late["ticket_no"]] * 2
    notified = live_app.notifications()
    assert [(item["level"], item["recipient"]) for item in notified] == [(2, None), (1, None)]
    log_in(page, KEYS["agent"])
    page.click("#tab-notifications")
    rows = page.locator(f'#notifications-body tr[data-ticket-no="{late["ticket_no"]}"]')
    expect(rows).to_have_count(2)
    expect(rows.nth(0).locator("td").nth(2)).to_have_text("时限升级·部门负责人")
    expect(rows.nth(1).locator("td").nth(2)).to_have_text("时限升级·上级主管")
    for index in range(2):
        expect(rows.nth(index).locator("td").nth(3)).to_have_text("未设置联系人")
        expect(rows.nth(index).locator("td").nth(4)).to_have_text("待发送")
    expect(page.locator("#notifications-failed")).to_be_hidden()


def test_on_a_phone_a_notification_still_shows_its_ticket_and_escalation(
    chromium: Any, gateway: Receiver, live_app: LiveApp
) -> None:
    from playwright.sync_api import expect

    live_app.clock.lag = timedelta(hours=3)  # its first response passed unmet: escalated to the supervisor and the head
    late = live_app.create_ticket(RUDE_AGENT)["ticket_no"]
    live_app.clock.lag = timedelta(0)
    assert len(DeadlineSweeper(live_app.services, 0).sweep_once()) == 2
    with browser_tab(chromium, live_app, 390, 844) as tab:
        log_in(tab, KEYS["agent"])
        tab.click("#tab-notifications")
        row = tab.locator(f'#notifications-body tr[data-ticket-no="{late}"]').first
        expect(row.locator("a.notification-ticket")).to_be_visible()
        expect(row.locator("td").nth(2)).to_be_visible()
        expect(row.locator("td").nth(2)).to_have_text("时限升级·部门负责人")
        # the queue's rows leave out the time received and the channel there (the ticket shows them)
        tab.click("#tab-queue")
        expect(tab.locator(f'#queue-body tr[data-ticket-no="{late}"] td').nth(1)).to_be_hidden()


def test_more_notifications_than_a_page_are_loaded_with_more(gateway: Receiver, live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    # each ticket received 3 hours ago is escalated twice by one sweep: a page and two more
    live_app.clock.lag = timedelta(hours=3)
    for _ in range(QUEUE_PAGE // 2 + 1):
        live_app.create_ticket(RUDE_AGENT)
    live_app.clock.lag = timedelta(0)
    assert len(DeadlineSweeper(live_app.services, 0).sweep_once()) == QUEUE_PAGE + 2
    listed = len(live_app.notifications())
    assert listed == QUEUE_PAGE + 2, listed
    page.clock.install()
    log_in(page, KEYS["agent"])
    page.click("#tab-notifications")
    rows = page.locator("#notifications-body tr")
    expect(rows).to_have_count(QUEUE_PAGE)
    more = page.locator("#notifications-more")
    expect(more).to_be_visible()
    more.click()
    expect(rows).to_have_count(listed)
    expect(more).to_be_hidden()
    # a refresh reads as many as are shown: newcomers ahead push the last ones behind 加载更多
    live_app.clock.lag = timedelta(hours=3)
    newest = live_app.create_ticket(RUDE_AGENT)["ticket_no"]
    live_app.clock.lag = timedelta(0)
    assert len(DeadlineSweeper(live_app.services, 0).sweep_once()) == 2
    page.clock.run_for(REFRESH_MS)
    expect(page.locator(f'#notifications-body tr[data-ticket-no="{newest}"]')).to_have_count(2)
    expect(rows).to_have_count(listed)
    expect(more).to_be_visible()


def test_the_notifications_tab_says_when_notifications_are_off(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    urgent = live_app.create_ticket(URGENT)
    assert urgent["head_escalated_at"] and live_app.notifications() == []  # escalated, but nobody notified
    log_in(page, KEYS["agent"])
    expect(page.locator("#queue-body tr")).to_have_count(1)
    expect(page.locator("#notifications-failed")).to_be_hidden()
    page.click("#tab-notifications")
    off = page.locator("#notifications-off")
    expect(off).to_be_visible()
    expect(off).to_contain_text("升级通知未开启")
    expect(page.locator("#notifications-table")).to_be_hidden()
    expect(page.locator("#notifications-empty")).to_be_hidden()
    # logged out and in again in the same page: the queue is shown, not the last session's notes
    page.click("#logout")
    page.fill("#api-key", KEYS["agent"])
    page.click("#login")
    expect(page.locator("#queue-panel")).to_be_visible()
    expect(page.locator("#tab-queue")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#notifications-panel")).to_be_hidden()
    expect(off).to_be_hidden()


# ------------------------------------------------------------------ the analysts' 统计 tab
def stats_table(page: Any) -> dict[str, dict[str, str]]:
    """The 统计 tab's table: each figure's row (`data-metric`) → period (or "total") → the text shown."""
    table: dict[str, dict[str, str]] = page.evaluate(
        """() => Object.fromEntries(
            Array.from(document.querySelectorAll("#stats-body tr[data-metric]")).map((row) => [
                row.dataset.metric,
                Object.fromEntries(
                    Array.from(row.querySelectorAll("td")).map((cell) => [cell.dataset.period, cell.textContent]),
                ),
            ]),
        )"""
    )
    return table


def analyst_get(live_app: LiveApp, path: str, **params: str) -> dict[str, Any]:
    """A GET of the API with the analyst's key (200 expected)."""
    response = live_app.http.get(path, params=params, headers=headers("analyst"))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


# Received ten days before now, by the app's clock, which the default range ends at.
@pytest.mark.parametrize("live_app", [timedelta(days=10)], indirect=True)
def test_an_analyst_sees_the_statistics_of_the_filed_tickets_and_the_drift(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    numbers = [live_app.create_ticket(text)["ticket_no"] for text in (LATE_PARCEL, RUDE_AGENT, POINTS)]
    live_app.review(numbers[0], action="accept")
    live_app.review(numbers[1], action="correct", tier="P1")
    live_app.close(numbers[2], feedback="satisfied")
    tickets = [live_app.ticket(number) for number in numbers]

    log_in(page, KEYS["analyst"])
    expect(page.locator("#tab-stats")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#stats-figures")).to_be_visible()
    frm, to = page.input_value("#stats-from"), page.input_value("#stats-to")
    first, last = datetime.fromisoformat(frm).date(), datetime.fromisoformat(to).date()
    # eight ISO weeks up to today in the business time zone (the app's clock), not the browser's
    today = live_app.clock().astimezone(ZoneInfo("Asia/Shanghai")).date()
    assert (first.weekday(), last, (last - first).days) == (0, today, 7 * 7 + today.weekday())
    stats = analyst_get(live_app, "/v1/stats", **{"from": frm, "to": to, "group_by": "week"})
    assert stats["total"]["tickets"] == 3
    assert [period["period"] for period in stats["periods"]] == [
        header.get_attribute("data-period") for header in page.locator("#stats-head th[data-period]").all()
    ][:-1]
    table = stats_table(page)
    columns = [*stats["periods"], {"period": "total", **stats["total"]}]
    for tier in ("P1", "P2", "P3"):
        shown = {figures["period"]: str(figures["volume"]["tier"].get(tier, 0)) for figures in columns}
        assert table[f"tier:{tier}"] == shown, tier
    assert table["tier:P1"]["total"] == str(sum(ticket["tier"]["code"] == "P1" for ticket in tickets))
    for category in {ticket["category"]["code"] for ticket in tickets}:
        count = sum(ticket["category"]["code"] == category for ticket in tickets)
        assert table[f"category:{category}"]["total"] == str(count)
    # the table as a CSV file, as shown: Excel's byte-order mark, a line per figure
    with page.expect_download() as downloading:
        page.click("#stats-export")
    download = downloading.value
    assert download.suggested_filename == f"投诉统计_{frm}_{to}_按周.csv"
    content = Path(download.path()).read_bytes()
    assert content.startswith("\ufeff".encode())
    lines = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    header = lines[0]
    assert header[0] == "指标" and header[-1] == "合计" and len(header) == len(stats["periods"]) + 2
    assert header[1].startswith(stats["periods"][0]["period"] + " (")
    figures = {line[0]: line[1:] for line in lines[1:] if len(line) > 1}
    assert figures["工单总数"][-1] == "3" and ["工单量"] in lines
    # a name that a spreadsheet would run as a formula (a taxonomy's, say) is written as text
    cells = page.evaluate("""() => ['=1+1', '-2', '@某品牌', 'a,"b"', '—'].map(csvCell)""")
    assert cells == ["'=1+1", "'-2", "'@某品牌", '"a,""b"""', "—"]
    for department in {ticket["department"]["code"] for ticket in tickets}:
        count = sum(ticket["department"]["code"] == department for ticket in tickets)
        assert table[f"department:{department}"]["total"] == str(count)
        confirmation = stats["total"]["closure_confirmation"]["by_department"].get(department, {}).get("rate")
        shown = "—" if confirmation is None else f"{confirmation * 100:.1f}%"
        assert table[f"closure_confirmation:{department}"]["total"] == shown
    total = stats["total"]
    assert table["tickets"]["total"] == "3"
    assert table["reviewed"]["total"] == "2"
    assert table["accuracy:tier"]["total"] == f"{total['live_accuracy']['tier'] * 100:.1f}%"
    assert table["closure_confirmation"]["total"] == "100.0%"
    assert table["survey_responses"]["total"] == "0" and table["survey:overall"]["total"] == "—"
    assert table["mean_resolution_hours"]["total"] == f"{total['mean_resolution_hours']:.1f}"
    rate = total["sla"]["first_response"]["P1"]["breach_rate"]
    assert table["first_response_breach:P1"]["total"] == ("—" if rate is None else f"{rate * 100:.1f}%")
    # the chart: a bar segment per period and tier with tickets, as the API counts them
    segments = [
        (figures["period"], tier, str(count))
        for figures in stats["periods"]
        for tier, count in figures["volume"]["tier"].items()
    ]
    rects = page.locator("#stats-chart svg rect")
    expect(rects).to_have_count(len(segments))
    shown_segments = [
        (rect.get_attribute("data-period"), rect.get_attribute("data-tier"), rect.locator("title").text_content())
        for rect in rects.all()
    ]
    assert sorted((period, tier) for period, tier, _ in shown_segments) == sorted(
        (period, tier) for period, tier, _ in segments
    )
    # the drift verdict of the same range
    drift = analyst_get(live_app, "/v1/stats/drift", **{"from": frm, "to": to})
    line = page.locator("#stats-drift")
    expect(line).to_contain_text("建议重新训练" if drift["retrain_recommended"] else "暂不需要重新训练")
    distance = drift["heads"]["subtype"]["js_distance"]
    expect(line).to_contain_text(f"子类分布 JS 距离 {'—' if distance is None else f'{distance:.3f}'}")
    expect(line).to_contain_text("工单不足 30 张")
    # by month: the last six full months, one column each and the total
    page.select_option("#stats-range", "months")
    expect(page.locator("#stats-head th[data-period]")).to_have_count(7)
    assert page.input_value("#stats-group") == "month"


def test_an_analyst_reads_tickets_without_review_actions_and_an_agent_gets_no_statistics(
    live_app: LiveApp, page: Any
) -> None:
    from playwright.sync_api import expect

    ticket_no = live_app.create_ticket(LATE_PARCEL)["ticket_no"]
    live_app.close(ticket_no)  # a closed ticket without a survey: an agent is offered the survey form
    log_in(page, KEYS["agent"])
    expect(page.locator("#queue-panel")).to_be_visible()
    expect(page.locator("#tab-stats")).to_be_hidden()
    page.fill("#open-number", ticket_no)
    page.press("#open-number", "Enter")
    expect(page.locator("#ticket-no")).to_have_text(ticket_no)
    for form in ("#accept", "#correct-form", "#event-form", "#survey-form"):
        expect(page.locator(form)).to_be_visible()
    page.click("#logout")

    page.fill("#api-key", KEYS["analyst"])
    page.click("#login")
    expect(page.locator("#stats-panel")).to_be_visible()
    expect(page.locator("#tab-queue")).to_be_hidden()
    expect(page.locator("#queue-panel")).to_be_hidden()
    page.click("#tab-list")
    page.click(f'#list-body tr[data-ticket-no="{ticket_no}"]')
    expect(page.locator("#ticket-no")).to_have_text(ticket_no)
    expect(page.locator("#history-body tr")).to_have_count(2)  # resolved, closed: read-only
    for form in ("#review-actions", "#accept", "#correct-form", "#event-form", "#survey-form"):
        expect(page.locator(form)).to_be_hidden()
    page.locator("#ticket-heading").press("a")  # the accept shortcut does nothing either
    page.click("#tab-notifications")
    expect(page.locator("#notifications-off")).to_be_visible()
    expect(page.locator("#message")).to_be_hidden()
    assert live_app.ticket(ticket_no)["review"] is None
    # the statistics tab hides the open ticket, which is back with the list
    page.click("#tab-stats")
    expect(page.locator("#ticket-view")).to_be_hidden()
    page.click("#tab-list")
    expect(page.locator("#ticket-view")).to_be_visible()

    # the analyst's figures (the drift is analysts' only) leave the page with the analyst
    page.click("#tab-stats")
    expect(page.locator("#stats-drift")).to_be_visible()
    page.click("#logout")
    page.fill("#api-key", KEYS["agent"])
    page.click("#login")
    expect(page.locator("#queue-panel")).to_be_visible()
    expect(page.locator("#tab-stats")).to_be_hidden()
    left = page.evaluate(
        """() => ['stats-drift', 'stats-chart-title', 'stats-legend', 'stats-empty', 'stats-head', 'stats-body',
                  'stats-chart', 'stats-from', 'stats-to']
            .map((id) => { const node = document.getElementById(id); return node.value || node.textContent; })
            .join('')"""
    )
    assert left == ""

    # an admin may do both: the queue and the forms, and the 统计 tab
    page.click("#logout")
    page.fill("#api-key", KEYS["admin"])
    page.click("#login")
    expect(page.locator("#queue-panel")).to_be_visible()
    expect(page.locator("#tab-stats")).to_be_visible()
    page.fill("#open-number", ticket_no)
    page.press("#open-number", "Enter")
    expect(page.locator("#survey-form")).to_be_visible()
    page.click("#tab-stats")
    expect(page.locator("#stats-figures")).to_be_visible()


def test_the_statistics_tab_says_an_empty_range_and_errors_in_chinese(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    log_in(page, KEYS["analyst"])
    empty, error = page.locator("#stats-empty"), page.locator("#stats-error")
    expect(empty).to_contain_text("没有受理的工单")
    expect(page.locator("#stats-figures")).to_be_hidden()
    # a range the API refuses (422): its reason in Chinese, in the tab
    page.fill("#stats-from", "2026-12-10")
    page.fill("#stats-to", "2026-12-01")
    assert page.input_value("#stats-range") == "custom"
    page.click("#stats-load")
    expect(error).to_contain_text("开始日期晚于结束日期")
    assert not re.search(r"[a-z]{3,}", error.inner_text()), error.inner_text()  # no English of the API
    expect(empty).to_be_hidden()
    page.fill("#stats-from", "2025-01-01")
    page.click("#stats-load")
    expect(error).to_contain_text("时间范围共 700 天，每次最多 400 天")
    # the service cannot be reached, then answers an error page: said, never a blank panel
    page.route("**/v1/stats?*", lambda route: route.abort(), times=1)
    page.select_option("#stats-range", "weeks")
    expect(error).to_contain_text("无法连接服务")
    page.route("**/v1/stats?*", lambda route: route.fulfill(status=502, body="<html>bad</html>"), times=1)
    page.click("#stats-load")
    expect(error).to_contain_text("网关错误")
    page.click("#stats-load")
    expect(empty).to_be_visible()
    expect(error).to_be_hidden()
