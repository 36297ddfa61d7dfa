"""The agents' console at /console, served by the real app and driven in headless Chromium.

The app runs under uvicorn in a background thread on a free localhost port, with a real SQLite
file, the session's real model and review thresholds of 1.0 (every ticket goes to review).
Tickets are created through the API with the intake key; the browser logs in with the agent
key and works the queue like an agent; what it did is checked through the API afterwards.
Chromium is Debian's (`/usr/bin/chromium`): Playwright's own browser download is not used.
"""

from __future__ import annotations

import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from api.db import Database
from api.main import create_app
from api.middleware import OPEN_PATHS
from api.routers.console import CONSOLE_FILES
from api.services.deadline_escalation import sweep_deadlines
from api.settings import Settings

from .conftest import KEYS, TestClient, headers

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
    assert client.get("/console/other.js").status_code == 401
    assert client.get("/v1/review-queue").status_code == 401
    assert client.get("/v1/review-queue", headers=headers("agent")).status_code == 200


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

    def sweep_deadlines(self) -> list[str]:
        """One deadline sweep on the app's database at the app's time; the ticket numbers escalated."""
        database = Database(self.database_url)
        try:
            with database.session() as session:
                done = sweep_deadlines(session, now=self.clock(), share=0.2)
        finally:
            database.dispose()
        return [item.ticket_no for item in done]

    def queue(self) -> list[str]:
        """The ticket numbers of the review queue, in its order."""
        response = self.http.get("/v1/review-queue", params={"limit": 200}, headers=headers("agent"))
        assert response.status_code == 200, response.text
        return [item["ticket_no"] for item in response.json()["items"]]


@pytest.fixture
def live_app(request: pytest.FixtureRequest, make_settings: Callable[..., Settings]) -> Iterator[LiveApp]:
    """The app under uvicorn in a background thread, every ticket needing review.

    Parametrised indirectly with a `timedelta`, the app's clock runs that far behind the real
    one (its tickets were received that long ago, as the browser sees it).
    """
    lag: timedelta = getattr(request, "param", timedelta(0))
    settings = make_settings(threshold_category=1.0, threshold_subtype=1.0, threshold_tier=1.0)
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
            yield LiveApp(url=url, http=http, database_url=settings.resolved_database_url, clock=clock)
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


@pytest.fixture
def page(chromium: Any, live_app: LiveApp) -> Iterator[Any]:
    """A fresh browser tab on the live app; fails the test on any script error or CSP violation."""
    context = chromium.new_context(base_url=live_app.url, viewport={"width": 1440, "height": 1000}, locale="zh-CN")
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

    page.select_option("#event-stage", "closed")  # an unresolved ticket cannot be closed: the 409 is shown
    expect(page.locator("#event-feedback-field")).to_be_visible()
    page.click("#add-event")
    expect(page.locator("#message")).to_contain_text("与工单当前状态冲突")
    expect(page.locator("#message")).to_contain_text("已解决")
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
    expect(page.locator("#message")).to_contain_text("已被他人更新")
    expect(page.locator("#review-state")).to_contain_text("admin-tester")  # the page shows the ticket as it is now
    review = live_app.ticket(ticket["ticket_no"])["review"]
    assert review["action"] == "correct" and review["reviewed_by"] == "admin-tester"
    assert review["tier"]["code"] == other["tier"]["code"] == "P1"
    # now based on what it shows, the same click goes through
    page.click("#accept")
    expect(page.locator("#message")).to_contain_text("已确认当前标签")
    assert live_app.ticket(ticket["ticket_no"])["review"]["reviewed_by"] == "agent-tester"


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


def test_an_agent_works_the_queue_from_the_keyboard(live_app: LiveApp, page: Any) -> None:
    from playwright.sync_api import expect

    for text in (LATE_PARCEL, RUDE_AGENT, VAGUE):
        live_app.create_ticket(text)
    queue = live_app.queue()
    log_in(page, KEYS["agent"])
    expect(page.locator("#queue-body tr")).to_have_count(3)
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
    page.keyboard.press("A")  # accepts, and the next of the queue opens
    expect(page.locator("#message")).to_contain_text("已确认模型建议")
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
