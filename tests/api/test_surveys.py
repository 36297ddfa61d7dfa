"""Surveys per closure, on SQLite and PostgreSQL: a reopened ticket closed again takes a new survey,
and only the survey of a closed ticket's latest closure is its survey and counts in the
statistics, the export and the monthly report; earlier surveys stay listed.

The expected figures are computed here from the scores the test recorded, not read from the service.
"""

from __future__ import annotations

import csv
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from api.cli import app

from .conftest import Clock, TestClient, create_ticket, headers, read_ticket

NAMES = ("timeliness", "effectiveness", "attitude", "overall")
SURVEY_DUE = timedelta(hours=48)  # practice: the survey 24–48 h after the handling is complete


def event(client: TestClient, ticket_no: str, stage: str, **body: Any) -> dict[str, Any]:
    response = client.post(f"/v1/tickets/{ticket_no}/events", json={"stage": stage, **body}, headers=headers("agent"))
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def close(client: TestClient, clock: Clock, ticket_no: str) -> datetime:
    """Resolve and close the ticket an hour apart; the time it was closed."""
    clock.advance(hours=1)
    event(client, ticket_no, "resolved", resolution="已上门处理")
    clock.advance(hours=1)
    closed = event(client, ticket_no, "closed", feedback="satisfied")
    return datetime.fromisoformat(closed["history"][-1]["at"])


def survey(client: TestClient, ticket_no: str, scores: tuple[int, int, int, int]) -> Any:
    return client.post(f"/v1/tickets/{ticket_no}/survey", json=dict(zip(NAMES, scores)), headers=headers("agent"))


def scores_of(shown: dict[str, Any]) -> tuple[int, ...]:
    return tuple(shown[name] for name in NAMES)


def test_a_reopened_ticket_closed_again_takes_a_new_survey_which_becomes_its_current_one(
    store_client: TestClient, clock: Clock
) -> None:
    ticket_no = create_ticket(store_client)["ticket_no"]
    first_close = close(store_client, clock, ticket_no)
    closed = read_ticket(store_client, ticket_no)
    assert closed["survey"] is None and closed["surveys"] == []
    assert datetime.fromisoformat(closed["survey_due"]) == first_close + SURVEY_DUE

    clock.advance(hours=24)
    first = survey(store_client, ticket_no, (5, 5, 4, 5))
    assert first.status_code == 201, first.text
    assert first.json()["current"] is True and datetime.fromisoformat(first.json()["closed_at"]) == first_close
    again = survey(store_client, ticket_no, (1, 1, 1, 1))  # one survey per closure
    assert again.status_code == 409 and again.json()["detail"][0]["type"] == "survey_exists"

    clock.advance(hours=2)
    reopened = event(store_client, ticket_no, "reopened", note="客户说又坏了")
    # the handling the survey judged was not final: no current survey, the old one still listed
    assert reopened["survey"] is None and reopened["survey_due"] is None
    assert [(scores_of(s), s["current"]) for s in reopened["surveys"]] == [((5, 5, 4, 5), False)]
    refused = survey(store_client, ticket_no, (3, 3, 3, 3))
    assert refused.status_code == 409 and refused.json()["detail"][0]["type"] == "ticket_not_closed"

    second_close = close(store_client, clock, ticket_no)
    closed_again = read_ticket(store_client, ticket_no)
    assert closed_again["survey"] is None  # the new closure has no survey yet
    assert datetime.fromisoformat(closed_again["survey_due"]) == second_close + SURVEY_DUE
    clock.advance(hours=30)
    second = survey(store_client, ticket_no, (2, 3, 2, 1))
    assert second.status_code == 201, second.text
    assert datetime.fromisoformat(second.json()["closed_at"]) == second_close

    shown = read_ticket(store_client, ticket_no)
    assert scores_of(shown["survey"]) == (2, 3, 2, 1) and shown["survey"]["current"] is True
    assert [(scores_of(s), s["current"]) for s in shown["surveys"]] == [((5, 5, 4, 5), False), ((2, 3, 2, 1), True)]
    assert [datetime.fromisoformat(s["closed_at"]) for s in shown["surveys"]] == [first_close, second_close]
    closures = [datetime.fromisoformat(e["at"]) for e in shown["history"] if e["stage"] == "closed"]
    assert closures == [first_close, second_close]
    # analysts see the same surveys
    assert (
        read_ticket(store_client, ticket_no)["surveys"]
        == store_client.get(f"/v1/tickets/{ticket_no}", headers=headers("analyst")).json()["surveys"]
    )


def test_a_survey_changes_the_tickets_etag(store_client: TestClient, clock: Clock) -> None:
    ticket_no = create_ticket(store_client)["ticket_no"]
    close(store_client, clock, ticket_no)
    before = store_client.get(f"/v1/tickets/{ticket_no}", headers=headers("agent")).headers["ETag"]
    assert survey(store_client, ticket_no, (4, 4, 4, 4)).status_code == 201
    after = store_client.get(f"/v1/tickets/{ticket_no}", headers=headers("agent")).headers["ETag"]
    assert after != before  # the ticket shows its survey now
    # a page loaded before the survey is stale: its reopen is refused until it reloads
    stale = store_client.post(
        f"/v1/tickets/{ticket_no}/events",
        json={"stage": "reopened", "note": "客户说又坏了"},
        headers={**headers("agent"), "If-Match": before},
    )
    assert stale.status_code == 412, stale.text


def test_concurrent_surveys_of_one_closure_record_exactly_one(store_client: TestClient, clock: Clock) -> None:
    ticket_no = create_ticket(store_client)["ticket_no"]
    close(store_client, clock, ticket_no)
    barrier = threading.Barrier(6)
    statuses: list[int] = []
    lock = threading.Lock()

    def post(index: int) -> None:
        barrier.wait()
        response = survey(store_client, ticket_no, (3, 3, 1 + index % 2, 1 + index // 2))  # six different surveys
        with lock:
            statuses.append(response.status_code)

    threads = [threading.Thread(target=post, args=(index,)) for index in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] + [409] * 5
    assert len(read_ticket(store_client, ticket_no)["surveys"]) == 1


RETRIED = {
    "timeliness": 4,
    "effectiveness": 5,
    "attitude": 5,
    "overall": 4,
    "method": "phone",
    "best_aspects": ["attitude", "result", "attitude"],
    "improve_aspects": [],
    "comment": "师傅很专业，回电请打13900001111",
}


def test_the_same_survey_sent_again_gives_back_the_stored_one(store_client: TestClient, clock: Clock) -> None:
    # An intake system that timed out retries; it must learn that its survey is stored, not that it failed.
    ticket_no = create_ticket(store_client)["ticket_no"]
    close(store_client, clock, ticket_no)
    path = f"/v1/tickets/{ticket_no}/survey"
    first = store_client.post(path, json=RETRIED, headers=headers("intake"))
    assert first.status_code == 201, first.text
    etag = store_client.get(f"/v1/tickets/{ticket_no}", headers=headers("agent")).headers["ETag"]
    clock.advance(minutes=2)
    # the same answers, the fields in another order, sent again by the same client or an agent
    for role in ("intake", "agent"):
        retry = store_client.post(path, json=dict(reversed(RETRIED.items())), headers=headers(role))
        assert retry.status_code == 200, retry.text
        assert retry.json() == first.json()  # the stored survey: who recorded it, when, the masked comment
    # other answers for the same closure: refused, naming the rule and the retry
    for change in ({"overall": 5}, {"comment": "师傅很专业"}, {"method": None}, {"improve_aspects": ["other"]}):
        refused = store_client.post(path, json={**RETRIED, **change}, headers=headers("intake"))
        assert refused.status_code == 409, (change, refused.text)
        [detail] = refused.json()["detail"]
        assert detail["type"] == "survey_exists" and "different survey" in detail["msg"]
    shown = store_client.get(f"/v1/tickets/{ticket_no}", headers=headers("agent"))
    assert len(shown.json()["surveys"]) == 1 and shown.headers["ETag"] == etag  # nothing written


def test_the_same_survey_sent_at_once_is_stored_once_and_each_sender_gets_it(
    store_client: TestClient, clock: Clock
) -> None:
    ticket_no = create_ticket(store_client)["ticket_no"]
    close(store_client, clock, ticket_no)
    barrier = threading.Barrier(6)
    answers: list[tuple[int, dict[str, Any]]] = []
    lock = threading.Lock()

    def post() -> None:
        barrier.wait()
        response = store_client.post(f"/v1/tickets/{ticket_no}/survey", json=RETRIED, headers=headers("intake"))
        with lock:
            answers.append((response.status_code, response.json()))

    threads = [threading.Thread(target=post) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(status for status, _ in answers) == [200] * 5 + [201], answers
    assert all(body == answers[0][1] for _, body in answers)
    assert len(read_ticket(store_client, ticket_no)["surveys"]) == 1


def _export_rows(database_url: str, out: Path) -> dict[str, dict[str, str]]:
    result = CliRunner().invoke(
        app,
        ["export", "--all", "--since", "2026-11-23", "--until", "2026-11-30", "--out", str(out)]
        + ["--database-url", database_url],
    )
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8", newline="") as stream:
        return {row["ticket_no"]: row for row in csv.DictReader(stream)}


def test_only_the_current_survey_of_a_closed_ticket_counts_in_stats_export_and_report(
    store_client: TestClient, clock: Clock, database_url: str, tmp_path: Path
) -> None:
    # again: surveyed, reopened, closed again and surveyed again (only the second counts)
    again = create_ticket(store_client, customer_id="C-1")["ticket_no"]
    # once: surveyed once (counts)
    once = create_ticket(store_client, customer_id="C-2")["ticket_no"]
    # reopened: surveyed, then reopened and still open (nothing counts)
    reopened = create_ticket(store_client, customer_id="C-3")["ticket_no"]
    # unsurveyed: closed without a survey
    unsurveyed = create_ticket(store_client, customer_id="C-4")["ticket_no"]
    recorded = {again: (5, 5, 5, 5), once: (4, 3, 4, 4), reopened: (1, 2, 1, 1)}
    for ticket_no, scores in recorded.items():
        close(store_client, clock, ticket_no)
        assert survey(store_client, ticket_no, scores).status_code == 201
    close(store_client, clock, unsurveyed)
    for ticket_no in (again, reopened):
        event(store_client, ticket_no, "reopened")
    close(store_client, clock, again)
    assert survey(store_client, again, (2, 1, 3, 2)).status_code == 201
    current = {again: (2, 1, 3, 2), once: (4, 3, 4, 4)}  # what should count, and nothing else

    stats = store_client.get("/v1/stats?from=2026-11-23&to=2026-11-30&group_by=month", headers=headers("analyst"))
    assert stats.status_code == 200, stats.text
    figures = stats.json()["total"]["survey"]
    expected = {
        name: sum(scores[index] for scores in current.values()) / len(current) for index, name in enumerate(NAMES)
    }
    assert figures == {"responses": 2, **expected}
    assert figures["overall"] == 3.0  # (2 + 4) / 2, by hand

    rows = _export_rows(database_url, tmp_path / "all.csv")
    for ticket_no in (again, once, reopened, unsurveyed):
        exported = tuple(rows[ticket_no][f"survey_{name}"] for name in NAMES)
        cells = tuple(str(score) for score in current[ticket_no]) if ticket_no in current else ("",) * 4
        assert exported == cells, ticket_no
    assert rows[again]["status"] == "closed" and rows[reopened]["status"] == "reopened"

    report = CliRunner().invoke(
        app, ["report", "--month", "2026-11", "--out", str(tmp_path / "report"), "--database-url", database_url]
    )
    assert report.exit_code == 0, report.output
    text = (tmp_path / "report" / "report.md").read_text(encoding="utf-8")
    for index, name in enumerate(NAMES):
        mean = round(sum(scores[index] for scores in current.values()) / len(current), 3)
        assert f"| survey {name} (1–5) | {mean} |" in text
