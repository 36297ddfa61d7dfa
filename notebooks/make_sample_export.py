"""Make `data/sample_export.csv`: three months of tickets run through the real service.

Run from the project root: `python notebooks/make_sample_export.py`. It starts the service on
a temporary SQLite database with the default model (trained from the team corpus in data/),
replays every sample complaint at its `created_at` time through `POST /v1/tickets`, lets an
agent review the tickets that need it (accepting the suggestion when it matches the sample's
label, correcting it otherwise), tracks each ticket through its stages with realistic delays,
records a survey for most closed tickets, and writes `triage export --all`. Random choices are
seeded, so the file is the same on every run with the same model.

Deadline escalations come from the real sweep (`sweep_deadlines`, what `triage sweep` runs), as
if cron ran it every quarter of an hour (the service's own sweep off): before each step of a
ticket, the script sweeps at the first quarter hour after each warning time, and after each due
time, of the ticket's pending deadlines that comes before the step (only the ticket being worked
on has pending deadlines: the ones before it are resolved): the first escalates the deadline to
the supervisor, the second, once it has passed unmet, to the department head. A P1 first response
is near 12 minutes before it is due, so a quarter-hourly sweep sometimes finds it already passed
and escalates it to both in one sweep. The service itself escalates a P1 ticket to the department
head when it is filed, or when the review makes it P1 (`head_escalated_at`, `head_at_intake` of
data/escalation.yaml).
"""

from __future__ import annotations

import csv
import random
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "data" / "sample_export.csv"
KEYS = "intake-key-0001:intake:hotline,agent-key-0001:agent:agent-wang,analyst-key-0001:analyst"
AGENT = {"X-API-Key": "agent-key-0001"}
SWEEP_MINUTES = 15  # `triage sweep` from cron at :00, :15, :30 and :45
ESCALATED_TO_HEAD = "deadline_head_escalated"  # the event of api.services.deadline_escalation


class Clock:
    """The service's clock, moved by the script."""

    def __init__(self) -> None:
        self.now = datetime(2026, 8, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from api.cli import app as cli
    from api.main import create_app
    from api.services.deadline_escalation import sweep_deadlines
    from api.settings import Settings

    random.seed(20261123)
    with (ROOT / "data" / "sample_complaints.csv").open(encoding="utf-8") as stream:
        complaints = sorted(csv.DictReader(stream), key=lambda row: row["created_at"])
    with tempfile.TemporaryDirectory() as folder:
        database = f"sqlite:///{folder}/triage.db"
        # no deadline sweep in the background: the script moves the clock back and forth itself
        settings = Settings(
            var_dir=Path(folder), database_url=database, api_keys=KEYS, model_poll_seconds=0, deadline_sweep_seconds=0
        )
        clock = Clock()
        with TestClient(create_app(settings, clock=clock)) as client:
            store = client.app.state.services.database  # type: ignore[attr-defined]

            def sweep() -> int:
                with store.session() as session:
                    return len(sweep_deadlines(session, now=clock.now, share=settings.deadline_warning_share))

            for index, row in enumerate(complaints):
                clock.now = datetime.fromisoformat(row["created_at"]).astimezone(UTC)
                created = client.post(
                    "/v1/tickets",
                    json={"text": row["text"], "channel": row["channel"], "customer_id": f"C{index % 450:04d}"},
                    headers={"X-API-Key": "intake-key-0001", "Idempotency-Key": f"sample-{row['id']}"},
                )
                created.raise_for_status()
                _work_on(client, clock, sweep, created.json(), row)
        result = CliRunner().invoke(
            cli, ["export", "--all", "--since", "2026-08-01", "--until", "2026-10-31", "--out", str(OUT), "--force",
                  "--database-url", database],
        )  # fmt: skip
        if result.exit_code != 0:
            sys.exit(result.output)
    print(f"wrote {OUT}")


def _next_sweep(moment: datetime) -> datetime:
    """The first sweep after `moment` (the next quarter hour)."""
    quarter = moment.replace(minute=moment.minute - moment.minute % SWEEP_MINUTES, second=0, microsecond=0)
    return quarter + timedelta(minutes=SWEEP_MINUTES)


def _sweep_until(client: TestClient, clock: Clock, sweep: Callable[[], int], number: str, until: datetime) -> None:
    """The sweeps that escalate the ticket's pending deadlines whose warning time (to the supervisor)
    or due time (to the department head) comes before `until`."""
    while True:
        ticket = client.get(f"/v1/tickets/{number}", headers=AGENT).json()
        at_head = {event["deadline"]["code"] for event in ticket["history"] if event["stage"] == ESCALATED_TO_HEAD}
        sweeps = [
            _next_sweep(datetime.fromisoformat(sla["warn_at"] if sla["escalated_at"] is None else sla["due"]))
            for kind in ("first_response", "resolution")
            if (sla := ticket[kind])["done_at"] is None and kind not in at_head
        ]
        if not sweeps:
            return
        # a review that moved the due times earlier can put a warning time in the past: the next
        # cron run after now sweeps it (the clock never goes back)
        when = max(min(sweeps), _next_sweep(clock.now)) if min(sweeps) <= clock.now else min(sweeps)
        if when >= until:
            return
        clock.now = when
        if not sweep():
            sys.exit(f"{number}: the sweep at {clock.now} escalated nothing")


def _work_on(client: TestClient, clock: Clock, sweep: Callable[[], int], ticket: dict, row: dict[str, str]) -> None:  # type: ignore[type-arg]
    number = ticket["ticket_no"]
    start = clock.now
    if ticket["needs_review"] or random.random() < 0.2:
        reviewed = start + timedelta(minutes=random.randint(5, 90))
        _sweep_until(client, clock, sweep, number, reviewed)
        clock.now = reviewed
        if ticket["suggestion"]["subtype"]["code"] == row["subtype"] and ticket["tier"]["code"] == row["tier"]:
            body: dict[str, str] = {"action": "accept"}
        else:
            body = {"action": "correct", "subtype": row["subtype"], "tier": row["tier"], "comment": "按投诉原文修正"}
        client.post(f"/v1/tickets/{number}/review", json=body, headers=AGENT).raise_for_status()
    # Response times follow the tier's windows (after the review, which may change the tier): on
    # average a third of the first-response window to the first contact and of the resolution
    # window to the solution, so that about one deadline in ten reaches its warning time and one in
    # twenty passes, rather than most P1 tickets escalated.
    current = client.get(f"/v1/tickets/{number}", headers=AGENT).json()
    received = datetime.fromisoformat(current["received_at"])
    windows = [
        (datetime.fromisoformat(current[sla]["due"]) - received).total_seconds() / 3600
        for sla in ("first_response", "resolution")
    ]
    hours = random.expovariate(1 / (windows[0] / 3))
    feedback = random.choice(["satisfied", "satisfied", "mostly", "not"])
    closing = {"feedback": feedback, **({"note": "主管确认已按政策处理，客户仍不满意"} if feedback == "not" else {})}
    stages = [
        ("assigned", {"owner": "agent-wang"}, 0.1),
        ("customer_contacted", {}, hours),
        ("resolved", {"resolution": "已与客户沟通并处理"}, hours + random.expovariate(1 / (windows[1] / 3))),
        ("closed", closing, None),
    ]
    for stage, extra, after in stages:
        if stage == "closed":
            if random.random() < 0.15:
                return  # still open at the end of the export
            after = stages[2][2] + random.uniform(1, 24)  # type: ignore[operator]
        # never before what the ticket went through already (a review up to 90 minutes in): the
        # customer is contacted right after it then, not at a time the history has passed
        at = max(clock.now, start + timedelta(hours=after))  # type: ignore[arg-type]
        _sweep_until(client, clock, sweep, number, at)
        clock.now = at
        response = client.post(f"/v1/tickets/{number}/events", json={"stage": stage, **extra}, headers=AGENT)
        response.raise_for_status()
    if random.random() < 0.7:
        scores = {name: random.choice([2, 3, 4, 4, 5, 5]) for name in ("timeliness", "effectiveness", "attitude")}
        scores["overall"] = round(sum(scores.values()) / 3)
        client.post(f"/v1/tickets/{number}/survey", json={**scores, "comment": ""}, headers=AGENT).raise_for_status()


if __name__ == "__main__":
    main()
