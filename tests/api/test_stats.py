"""GET /v1/stats and /v1/stats/drift: figures checked against counts computed here from what the test did."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from api.services.deadline_escalation import sweep_deadlines
from api.services.deadlines import SUPERVISOR_LEVEL
from api.services.export import ticket_rows
from api.services.stats import day_bounds
from model.artifact import save_model
from model.predictor import TriageModel
from training import monthly
from training.data import LabeledRow
from training.registry import Registry

from .conftest import Clock, TestClient, create_ticket, headers

SHANGHAI = ZoneInfo("Asia/Shanghai")
SLA_HOURS = {"P1": (1, 24), "P2": (2, 48), "P3": (4, 72)}  # data/taxonomy.yaml
LATE = "快递显示已发货五天了还没送到，物流信息一直不更新，要求尽快送达。"
RUDE = "客服态度非常差，说话很不耐烦，还直接挂我电话。"
EARPHONES = "买的耳机用了两天就没声音了，质量太差。"


def local(text: str) -> datetime:
    """A business-time-zone time."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


@dataclass
class Record:
    """What the test did to one ticket, and what the API answered."""

    received: datetime
    channel: str
    ticket: dict[str, Any]
    first_response: datetime | None = None
    resolved: datetime | None = None
    survey: tuple[int, int, int, int] | None = None
    closing_feedback: str | None = None  # the customer's answer at the closure that closed it
    escalated: dict[str, bool] = field(default_factory=dict)  # deadline escalated by a sweep → passed
    head: set[str] = field(default_factory=set)  # deadlines escalated by a sweep to the department head

    def label(self, head: str) -> str:
        code: str = self.ticket[head]["code"]
        return code

    @property
    def reviewed(self) -> bool:
        return self.ticket["review"] is not None


def _at(clock: Clock, moment: datetime) -> None:
    clock.now = moment.astimezone(UTC)


def _event(client: TestClient, clock: Clock, record: Record, hours: float, stage: str, **body: Any) -> None:
    _at(clock, record.received + timedelta(hours=hours))
    response = client.post(
        f"/v1/tickets/{record.ticket['ticket_no']}/events", json={"stage": stage, **body}, headers=headers("agent")
    )
    assert response.status_code == 201, response.text
    if stage == "customer_contacted" and record.first_response is None:
        record.first_response = clock.now
    if stage == "resolved":
        record.first_response = record.first_response or clock.now
        record.resolved = clock.now
    if stage == "closed":
        record.closing_feedback = body["feedback"]
    if stage == "reopened":
        record.resolved = record.closing_feedback = None


def _review(client: TestClient, record: Record, **body: Any) -> None:
    response = client.post(f"/v1/tickets/{record.ticket['ticket_no']}/review", json=body, headers=headers("agent"))
    assert response.status_code == 200, response.text
    record.ticket = response.json()


def _survey(client: TestClient, record: Record, scores: tuple[int, int, int, int]) -> None:
    names = ("timeliness", "effectiveness", "attitude", "overall")
    response = client.post(
        f"/v1/tickets/{record.ticket['ticket_no']}/survey", json=dict(zip(names, scores)), headers=headers("agent")
    )
    assert response.status_code == 201, response.text
    record.survey = scores


def _sweep(client: TestClient, clock: Clock, records: list[Record], moment: datetime) -> None:
    """The real deadline sweep at `moment` (default warning share, 20 %), noted on the records."""
    _at(clock, moment)
    by_number = {record.ticket["ticket_no"]: record for record in records}
    with client.app.state.services.database.session() as session:  # type: ignore[attr-defined]
        for done in sweep_deadlines(session, now=clock.now, share=0.2):
            if done.level == SUPERVISOR_LEVEL:
                by_number[done.ticket_no].escalated[done.deadline] = done.passed
            else:
                by_number[done.ticket_no].head.add(done.deadline)


def _create(client: TestClient, clock: Clock, when: str, text: str, channel: str, customer: str | None) -> Record:
    received = local(when)
    _at(clock, received)
    ticket = create_ticket(client, text=text, channel=channel, customer_id=customer)
    return Record(received, channel, ticket)


def build_history(client: TestClient, clock: Clock) -> list[Record]:
    """Seven tickets around a month end; five of them received from 2026-10-26 to 2026-11-24."""
    outside_before = _create(client, clock, "2026-10-25T23:59:00", RUDE, "phone", "Z")
    t1 = _create(client, clock, "2026-10-28T09:00:00", LATE, "online", "A")
    # 00:30 in Shanghai on 1 November is still 31 October in UTC: it counts for November
    t2 = _create(client, clock, "2026-11-01T00:30:00", RUDE, "phone", "B")
    t3 = _create(client, clock, "2026-11-02T10:00:00", LATE, "online", "A")
    t4 = _create(client, clock, "2026-11-10T14:00:00", EARPHONES, "email", "C")
    t5 = _create(client, clock, "2026-11-20T08:00:00", "东西不好。", "store", None)
    outside_after = _create(client, clock, "2026-11-25T10:00:00", LATE, "online", "D")

    _at(clock, t1.received + timedelta(minutes=10))
    _review(client, t1, action="correct", tier="P1")
    _event(client, clock, t1, 0.5, "customer_contacted")
    _event(client, clock, t1, 30, "resolved", resolution="已补发")
    _event(client, clock, t1, 31, "closed", feedback="satisfied")
    _survey(client, t1, (5, 4, 3, 4))

    _review(client, t2, action="accept")
    _event(client, clock, t2, 3, "customer_contacted")
    _event(client, clock, t2, 10, "resolved", resolution="已道歉")
    _event(client, clock, t2, 11, "closed", feedback="mostly")

    # closed as satisfied, then reopened: that closure no longer counts
    _event(client, clock, t3, 2, "resolved", resolution="已补发")
    _event(client, clock, t3, 3, "closed", feedback="satisfied")
    _event(client, clock, t3, 30, "reopened", note="补发的也没到")

    _review(client, t4, action="correct", subtype="poor_quality", comment="质量问题")
    _event(client, clock, t4, 1, "customer_contacted")
    _event(client, clock, t4, 5, "resolved", resolution="已换新")
    _event(client, clock, t4, 6, "closed", feedback="not", note="主管决定闭环")
    _survey(client, t4, (2, 2, 1, 2))
    _event(client, clock, outside_after, 1, "customer_contacted")
    assert outside_before.ticket["ticket_no"] != outside_after.ticket["ticket_no"]

    # deadline sweeps: five minutes before t5's first response is due (near), which also finds t3's
    # reopened resolution and both of outside_before's deadlines overdue (escalated to the supervisor
    # and the department head); then at the test's `now`, which finds t5's first response overdue
    # (to the head) and its resolution overdue (to both)
    everything = [outside_before, t1, t2, t3, t4, t5, outside_after]
    _sweep(client, clock, everything, datetime.fromisoformat(t5.ticket["first_response_due"]) - timedelta(minutes=5))
    _sweep(client, clock, everything, local("2026-11-24T12:00:00"))
    return [t1, t2, t3, t4, t5]


def _sla_state(due: datetime, done: datetime | None, now: datetime) -> str:
    if done is not None:
        return "met" if done <= due else "breached"
    return "breached" if now > due else "pending"


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _confirmation(feedback: list[str]) -> dict[str, Any]:
    confirmed = sum(code in ("satisfied", "mostly") for code in feedback)
    return {"closed": len(feedback), "confirmed": confirmed, "rate": confirmed / len(feedback) if feedback else None}


def _escalated_share(records: list[Record]) -> dict[str, Any]:
    escalated = sum(bool(r.escalated) for r in records)
    return {"tickets": len(records), "escalated": escalated, "rate": escalated / len(records) if records else None}


def expected_figures(records: list[Record], now: datetime) -> dict[str, Any]:
    """The figures of `api.services.stats`, computed from the test's own records."""
    n = len(records)
    sla: dict[str, dict[str, dict[str, Any]]] = {}
    for index, kind in enumerate(("first_response", "resolution")):
        sla[kind] = {}
        for tier in SLA_HOURS:
            states = Counter(
                _sla_state(
                    r.received + timedelta(hours=SLA_HOURS[tier][index]),
                    r.first_response if kind == "first_response" else r.resolved,
                    now,
                )
                for r in records
                if r.label("tier") == tier
            )
            decided = states["met"] + states["breached"]
            sla[kind][tier] = {
                "met": states["met"],
                "breached": states["breached"],
                "pending": states["pending"],
                "breach_rate": states["breached"] / decided if decided else None,
            }
    reviewed = [r for r in records if r.reviewed]
    surveyed = [r.survey for r in records if r.survey is not None]
    closures = [(r.label("department"), r.closing_feedback) for r in records if r.closing_feedback is not None]
    departments = sorted({department for department, _ in closures})
    return {
        "tickets": n,
        "volume": {
            "category": dict(Counter(r.label("category") for r in records)),
            "subtype": dict(Counter(r.label("subtype") for r in records)),
            "tier": dict(Counter(r.label("tier") for r in records)),
            "department": dict(Counter(r.label("department") for r in records)),
            "channel": dict(Counter(r.channel for r in records)),
        },
        "mean_first_response_hours": _mean(
            [(r.first_response - r.received).total_seconds() / 3600 for r in records if r.first_response]
        ),
        "mean_resolution_hours": _mean(
            [(r.resolved - r.received).total_seconds() / 3600 for r in records if r.resolved]
        ),
        "sla": sla,
        "resolution_rate": sum(r.resolved is not None for r in records) / n if n else None,
        "repeat_rate": sum(r.ticket["repeat_of"] is not None for r in records) / n if n else None,
        "survey": {
            "responses": len(surveyed),
            **{
                name: _mean([float(scores[i]) for scores in surveyed])
                for i, name in enumerate(("timeliness", "effectiveness", "attitude", "overall"))
            },
        },
        "closure_confirmation": {
            **_confirmation([feedback for _, feedback in closures]),
            "by_department": {
                department: _confirmation([feedback for owner, feedback in closures if owner == department])
                for department in departments
            },
        },
        "deadline_escalation": {
            **_escalated_share(records),
            "by_tier": {tier: _escalated_share([r for r in records if r.label("tier") == tier]) for tier in SLA_HOURS},
            "by_department": {
                department: _escalated_share([r for r in records if r.label("department") == department])
                for department in sorted({r.label("department") for r in records})
            },
            **{
                kind: {
                    "escalated": sum(kind in r.escalated for r in records),
                    "passed": sum(r.escalated.get(kind, False) for r in records),
                    "head_escalated": sum(kind in r.head for r in records),
                }
                for kind in ("first_response", "resolution")
            },
        },
        "reviewed": len(reviewed),
        "live_accuracy": {
            head: (
                sum(r.ticket["suggestion"][head]["code"] == r.ticket["review"][head]["code"] for r in reviewed)
                / len(reviewed)
                if reviewed
                else None
            )
            for head in ("category", "subtype", "tier", "demand")
        },
        "autofilled_share": sum(not r.ticket["needs_review"] for r in records) / n if n else None,
    }


def _approx(figures: dict[str, Any]) -> Any:
    return {key: (pytest.approx(value) if key.startswith("mean") else value) for key, value in figures.items()}


def test_monthly_figures_match_counts_computed_from_the_tickets(store_client: TestClient, clock: Clock) -> None:
    records = build_history(store_client, clock)
    now = local("2026-11-24T12:00:00")
    _at(clock, now)
    response = store_client.get("/v1/stats?from=2026-10-26&to=2026-11-24&group_by=month", headers=headers("analyst"))
    assert response.status_code == 200, response.text
    stats = response.json()
    assert (stats["from"], stats["to"], stats["group_by"]) == ("2026-10-26", "2026-11-24", "month")
    october, november = stats["periods"]
    assert (october["period"], october["start"], october["end"]) == ("2026-10", "2026-10-26", "2026-10-31")
    assert (november["period"], november["start"], november["end"]) == ("2026-11", "2026-11-01", "2026-11-24")
    assert (october["tickets"], november["tickets"], stats["total"]["tickets"]) == (1, 4, 5)
    for got, mine in ((october, records[:1]), (november, records[1:]), (stats["total"], records)):
        figures = {key: value for key, value in got.items() if key not in ("period", "start", "end")}
        assert figures == _approx(expected_figures(mine, now))
    # a few figures by hand, so the check above does not only mirror the service
    assert october["sla"]["resolution"]["P1"] == {"met": 0, "breached": 1, "pending": 0, "breach_rate": 1.0}
    assert october["mean_first_response_hours"] == pytest.approx(0.5)
    assert october["survey"]["overall"] == 4.0 and november["survey"]["timeliness"] == 2.0
    assert stats["total"]["reviewed"] == 3 and stats["total"]["resolution_rate"] == pytest.approx(3 / 5)
    assert november["repeat_rate"] == pytest.approx(1 / 4)  # t3 repeats t1 (same customer, same category)
    # t1 satisfied; t2 mostly, t4 not (closed anyway, with a note); t3's closure was reopened
    assert october["closure_confirmation"] | {"by_department": None} == {
        "closed": 1,
        "confirmed": 1,
        "rate": 1.0,
        "by_department": None,
    }
    assert (november["closure_confirmation"]["closed"], november["closure_confirmation"]["confirmed"]) == (2, 1)
    assert stats["total"]["closure_confirmation"]["rate"] == pytest.approx(2 / 3)
    # t5's first response escalated while near (to the head once overdue), t3's reopened resolution
    # and t5's once overdue (both to the head in the same sweep)
    escalation = [period["deadline_escalation"] for period in (october, november, stats["total"])]
    assert [(e["tickets"], e["escalated"], e["rate"]) for e in escalation] == [(1, 0, 0.0), (4, 2, 0.5), (5, 2, 0.4)]
    assert escalation[-1]["first_response"] == {"escalated": 1, "passed": 0, "head_escalated": 1}
    assert escalation[-1]["resolution"] == {"escalated": 2, "passed": 2, "head_escalated": 2}
    assert escalation[-1]["by_department"]["logistics"] == {"tickets": 2, "escalated": 1, "rate": 0.5}  # t1, t3
    assert escalation[0]["by_tier"]["P3"] == {"tickets": 0, "escalated": 0, "rate": None}  # every tier, 0 included


def test_a_deadline_the_sweep_found_passed_within_its_due_second_counts_as_passed_in_stats_and_export(
    store_client: TestClient, clock: Clock
) -> None:
    # The export writes times to the second (due and escalated at 10:00:00 here), but "passed" is
    # the sweep's verdict at full precision, which the export writes too: the two count the same.
    record = _create(store_client, clock, "2026-11-23T10:00:00.200000", RUDE, "phone", None)
    first_response = datetime.fromisoformat(record.ticket["first_response_due"])
    _sweep(store_client, clock, [record], first_response + timedelta(milliseconds=500))
    assert record.escalated["first_response"] is True  # the sweep's own verdict
    response = store_client.get("/v1/stats?from=2026-11-23&to=2026-11-23", headers=headers("analyst"))
    assert response.status_code == 200, response.text
    found = {"escalated": 1, "passed": 1, "head_escalated": 1}  # found passed: to the supervisor and the head
    assert response.json()["total"]["deadline_escalation"]["first_response"] == found
    (row,) = _export_rows(store_client, "2026-11-23")
    assert row["first_response_escalated_at"] == row["first_response_due"]  # to the second
    assert row["first_response_escalated_passed"] == "true"
    assert row["first_response_head_escalated_at"] == row["first_response_escalated_at"]  # in the same sweep
    assert monthly.summarise([row])["deadline_escalations"]["first_response"] == found


def _export_rows(client: TestClient, day: str) -> list[dict[str, str]]:
    """The export rows of every ticket received on `day` (business time zone), as `triage export --all`."""
    start, end = day_bounds(date.fromisoformat(day), date.fromisoformat(day), SHANGHAI)
    with client.app.state.services.database.session() as session:  # type: ignore[attr-defined]
        return list(ticket_rows(session, start=start, end=end, all_tickets=True, zone=SHANGHAI, now=start))


def test_passed_is_the_sweeps_verdict_even_after_a_review_moved_the_due_time_across_the_escalation(
    store_client: TestClient, clock: Clock
) -> None:
    # October: P2, received at 09:00, first response due at 11:00, escalated at 11:40 once passed;
    # then re-tiered P3, due at 13:00, after the escalation: still passed.
    late = _create(store_client, clock, "2026-10-30T09:00:00", RUDE, "phone", "A")
    assert late.label("tier") == "P2"
    _sweep(store_client, clock, [late], local("2026-10-30T11:40:00"))
    _at(clock, local("2026-10-30T11:45:00"))
    _review(store_client, late, action="correct", tier="P3", comment="客户只要求道歉")
    _event(store_client, clock, late, 3, "resolved", resolution="已致歉")  # no other deadline to escalate
    # November: P2, received at 10:00, first response due at 12:00, escalated at 11:40 while near;
    # then re-tiered P1, due at 11:00, before the escalation: still not passed.
    near = _create(store_client, clock, "2026-11-02T10:00:00", LATE, "online", "B")
    assert near.label("tier") == "P2"
    _sweep(store_client, clock, [late, near], local("2026-11-02T11:40:00"))
    _at(clock, local("2026-11-02T11:45:00"))
    _review(store_client, near, action="correct", tier="P1")
    assert (late.escalated, near.escalated) == ({"first_response": True}, {"first_response": False})
    escalated_at = {"late": local("2026-10-30T11:40:00"), "near": local("2026-11-02T11:40:00")}
    assert datetime.fromisoformat(late.ticket["first_response_due"]) > escalated_at["late"]  # now 13:00
    assert datetime.fromisoformat(near.ticket["first_response_due"]) < escalated_at["near"]  # now 11:00

    now = local("2026-11-03T12:00:00")
    _at(clock, now)
    response = store_client.get("/v1/stats?from=2026-10-30&to=2026-11-02&group_by=month", headers=headers("analyst"))
    assert response.status_code == 200, response.text
    stats = response.json()
    october, november = stats["periods"]
    # late was found passed: to the head in the same sweep; near was not swept again once overdue
    assert october["deadline_escalation"]["first_response"] == {"escalated": 1, "passed": 1, "head_escalated": 1}
    assert november["deadline_escalation"]["first_response"] == {"escalated": 1, "passed": 0, "head_escalated": 0}
    for got, mine in ((october, [late]), (november, [near]), (stats["total"], [late, near])):
        figures = {key: value for key, value in got.items() if key not in ("period", "start", "end")}
        assert figures == _approx(expected_figures(mine, now))


def test_weekly_periods_are_iso_weeks_clipped_to_the_range(store_client: TestClient, clock: Clock) -> None:
    records = build_history(store_client, clock)
    _at(clock, local("2026-11-24T12:00:00"))
    stats = store_client.get("/v1/stats?from=2026-10-26&to=2026-11-24&group_by=week", headers=headers("analyst")).json()
    weeks = [(p["period"], p["start"], p["end"], p["tickets"]) for p in stats["periods"]]
    assert weeks == [
        ("2026-W44", "2026-10-26", "2026-11-01", 2),  # t1, and t2 at 00:30 on Sunday 1 November
        ("2026-W45", "2026-11-02", "2026-11-08", 1),
        ("2026-W46", "2026-11-09", "2026-11-15", 1),
        ("2026-W47", "2026-11-16", "2026-11-22", 1),
        ("2026-W48", "2026-11-23", "2026-11-24", 0),
    ]
    empty = stats["periods"][-1]
    assert empty["resolution_rate"] is None and empty["volume"]["tier"] == {} and empty["survey"]["responses"] == 0
    assert stats["total"]["volume"]["channel"] == dict(Counter(r.channel for r in records))


def test_without_a_range_the_latest_periods_are_read_up_to_today_in_the_business_time_zone(
    store_client: TestClient, clock: Clock
) -> None:
    records = build_history(store_client, clock)
    # 02:00 on Tuesday 24 November in Shanghai, still Monday the 23rd in UTC: today is the 24th
    _at(clock, local("2026-11-24T02:00:00"))

    def ask(path: str) -> dict[str, Any]:
        response = store_client.get(path, headers=headers("analyst"))
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    weekly = ask("/v1/stats?group_by=week")
    assert (weekly["from"], weekly["to"]) == ("2026-10-05", "2026-11-24")  # 8 ISO weeks, this one so far
    assert len(weekly["periods"]) == 8 and weekly["periods"][-1]["period"] == "2026-W48"
    assert weekly == ask("/v1/stats?from=2026-10-05&to=2026-11-24&group_by=week")
    assert weekly["total"]["tickets"] == len(records) + 1  # and 25 October's; not 25 November's, after today
    monthly = ask("/v1/stats")  # by month, the default grouping
    assert (monthly["from"], monthly["to"]) == ("2026-06-01", "2026-11-24")
    assert [period["period"] for period in monthly["periods"]] == [f"2026-{month:02d}" for month in range(6, 12)]
    ended = ask("/v1/stats?to=2026-10-31&group_by=week")  # from counts back from the `to` given
    assert (ended["from"], ended["to"]) == ("2026-09-07", "2026-10-31")
    drift = ask("/v1/stats/drift")
    assert (drift["from"], drift["to"], drift["tickets"]) == ("2026-10-05", "2026-11-24", len(records) + 1)
    future = store_client.get("/v1/stats?from=2026-11-25", headers=headers("analyst"))
    assert future.status_code == 422 and "after today (2026-11-24)" in future.json()["detail"][0]["msg"]


def test_the_default_range_is_no_longer_than_a_request_may_ask_for(make_client: Callable[..., TestClient]) -> None:
    client = make_client(stats_max_days=90)
    answer = client.get("/v1/stats", headers=headers("analyst"))
    assert answer.status_code == 200, answer.text
    first, last = (date.fromisoformat(answer.json()[key]) for key in ("from", "to"))
    assert (last - first).days == 89


@pytest.mark.parametrize("group_by", ["week", "month"])
def test_a_default_from_is_never_before_the_earliest_day_a_range_may_name(client: TestClient, group_by: str) -> None:
    # counted back from 4 January 1970, the 8 weeks or 6 months would start in 1969
    for path in (f"/v1/stats?to=1970-01-04&group_by={group_by}", "/v1/stats/drift?to=1970-01-04"):
        answer = client.get(path, headers=headers("analyst"))
        assert answer.status_code == 200, (path, answer.text)
        assert (answer.json()["from"], answer.json()["to"]) == ("1970-01-01", "1970-01-04")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("from=&to=2026-11-24", "from"),
        ("from=2026-11-24&to=", "to"),
        ("from=2026-11-25&to=2026-11-24&group_by=week", "from"),
        ("from=2026-13-01&to=2026-11-24", "from"),
        ("from=2026-11-25&to=2026-11-24", "from"),
        ("from=2020-01-01&to=2026-11-24", "to"),
        ("from=2026-11-01&to=2026-11-24&group_by=day", "group_by"),
        ("from=9999-12-30&to=9999-12-31", "from"),
        ("from=2026-11-01&to=9999-12-31", "to"),
        ("from=1&to=2026-11-24", "from"),
        ("from=2026-11-01&to=20261124", "to"),
        # `to` alone: named itself, not the `from` counted back from it (that was a 500 before 1970)
        ("to=0001-01-01", "to"),
        ("to=0001-03-31&group_by=month", "to"),
        ("to=1969-12-31&group_by=week", "to"),
        ("to=9999-12-31", "to"),
    ],
)
def test_bad_stats_parameters_are_422_naming_the_parameter(client: TestClient, query: str, field: str) -> None:
    for path in ("/v1/stats", "/v1/stats/drift"):
        if path.endswith("drift") and "group_by" in query:
            continue
        response = client.get(f"{path}?{query}", headers=headers("analyst"))
        assert response.status_code == 422, (path, response.text)
        assert response.json()["detail"][0]["loc"] == ["query", field]


# ------------------------------------------------------------------------------------ drift
def js_distance(p: dict[str, float], q: dict[str, float]) -> float:
    """Jensen–Shannon distance, base 2, written out independently of the service."""
    keys = set(p) | set(q)
    m = {k: (p.get(k, 0) + q.get(k, 0)) / 2 for k in keys}
    divergence = 0.0
    for dist in (p, q):
        divergence += 0.5 * sum(v * math.log2(v / m[k]) for k, v in dist.items() if v > 0)
    return math.sqrt(divergence)


def _registry_with_reference(
    root: Path, model: TriageModel, label_counts: dict[str, dict[str, int]], oov: float
) -> Path:
    version = f"drift-{abs(hash(repr(label_counts))) % 10**8}-{int(oov * 1000)}"
    save_model(
        TriageModel(model.taxonomy, model.classifier, version),
        root / version,
        {"training_data": {"label_counts": label_counts}, "evaluation": {"out_of_vocabulary_rate": oov}},
    )
    Registry(root).set_current(version, action="promote")
    return root


def _shares(counts: Counter[str]) -> dict[str, float]:
    total = sum(counts.values())
    return {k: v / total for k, v in counts.items()}


def test_drift_flags_a_shifted_class_mix_and_new_vocabulary(
    make_client: Callable[..., TestClient],
    clock: Clock,
    tmp_path: Path,
    sample_model: TriageModel,
    sample_rows: list[LabeledRow],
) -> None:
    training = {
        head: dict(Counter(getattr(row, head) for row in sample_rows)) for head in ("category", "subtype", "tier")
    }
    root = _registry_with_reference(tmp_path / "models", sample_model, training, oov=0.0)
    client = make_client(registry=root, drift_min_tickets=4)
    texts = [LATE, LATE, LATE, RUDE, "Zyxw qwerty 蛄蛐蛄蛐 锟斤拷锟斤拷 乌拉乌拉。"]
    tickets = []
    for text in texts:
        tickets.append(create_ticket(client, text=text, channel="online"))
        clock.advance(minutes=1)
    corrected = client.post(
        f"/v1/tickets/{tickets[3]['ticket_no']}/review",
        json={"action": "correct", "subtype": "billing"},
        headers=headers("agent"),
    )
    assert corrected.status_code == 200
    report = client.get("/v1/stats/drift?from=2026-11-23&to=2026-11-23", headers=headers("analyst")).json()
    assert report["tickets"] == 5 and report["enough_tickets"] is True
    # the period's classes: suggestions, and the final label where reviewed
    subtypes = Counter(t["suggestion"]["subtype"]["code"] for t in tickets)
    subtypes[tickets[3]["suggestion"]["subtype"]["code"]] -= 1
    subtypes["billing"] += 1
    subtypes = +subtypes
    period = _shares(subtypes)
    reference = _shares(Counter(training["subtype"]))
    head = report["heads"]["subtype"]
    assert head["period"] == pytest.approx(period) and head["training"] == pytest.approx(reference)
    assert head["js_distance"] == pytest.approx(js_distance(period, reference))
    assert head["drifted"] is True and report["retrain_recommended"] is True
    tiers = _shares(Counter(t["suggestion"]["tier"]["code"] for t in tickets))
    assert report["heads"]["tier"]["js_distance"] == pytest.approx(
        js_distance(tiers, _shares(Counter(training["tier"])))
    )
    vocabulary = report["out_of_vocabulary"]
    assert vocabulary["rate"] == pytest.approx(sample_model.out_of_vocabulary_rate([t["text"] for t in tickets]))
    assert vocabulary["reference"] == 0.0 and vocabulary["rate"] > 0.05 and vocabulary["drifted"] is True
    assert any("subtype" in reason for reason in report["reasons"])
    assert any("out-of-vocabulary" in reason for reason in report["reasons"])
    # the same drift from fewer tickets than the minimum: shown, but no retraining recommended
    cautious = make_client(registry=root, drift_min_tickets=6)
    small = cautious.get("/v1/stats/drift?from=2026-11-23&to=2026-11-23", headers=headers("analyst")).json()
    assert small["tickets"] == 5 and small["enough_tickets"] is False
    assert small["heads"]["subtype"]["drifted"] is True and small["out_of_vocabulary"]["drifted"] is True
    assert small["retrain_recommended"] is False


def test_no_drift_when_the_period_looks_like_the_training_data(
    make_client: Callable[..., TestClient], clock: Clock, tmp_path: Path, sample_model: TriageModel
) -> None:
    texts = [LATE, RUDE, EARPHONES, LATE]
    predictions = [sample_model.predict(text) for text in texts]
    # the training reference: exactly this mix, and this vocabulary
    label_counts = {
        head: dict(Counter(getattr(p, head).code for p in predictions)) for head in ("category", "subtype", "tier")
    }
    oov = sample_model.out_of_vocabulary_rate(texts)
    client = make_client(registry=_registry_with_reference(tmp_path / "models", sample_model, label_counts, oov))
    for text in texts:
        create_ticket(client, text=text, channel="online")
    report = client.get("/v1/stats/drift?from=2026-11-23&to=2026-11-23", headers=headers("analyst")).json()
    assert report["heads"]["subtype"]["js_distance"] == pytest.approx(0.0, abs=1e-6)
    assert report["heads"]["tier"]["drifted"] is False and report["out_of_vocabulary"]["drifted"] is False
    assert report["retrain_recommended"] is False and report["reasons"] == []
    assert report["enough_tickets"] is False and report["min_tickets"] == 30  # the default


def test_drift_without_a_training_reference_reports_nulls(client: TestClient) -> None:
    create_ticket(client, text=LATE)
    report = client.get("/v1/stats/drift?from=2026-11-01&to=2026-11-30", headers=headers("analyst")).json()
    assert report["model_version"] == "test-sample" and report["tickets"] == 1
    assert report["heads"]["subtype"]["js_distance"] is None and report["heads"]["subtype"]["training"] is None
    assert report["out_of_vocabulary"]["reference"] is None and report["out_of_vocabulary"]["rate"] is not None
    assert report["retrain_recommended"] is False
    empty = client.get("/v1/stats/drift?from=2026-01-01&to=2026-01-31", headers=headers("analyst")).json()
    assert empty["tickets"] == 0 and empty["out_of_vocabulary"]["rate"] is None
