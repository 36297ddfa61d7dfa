"""The whole monthly loop on real files: tickets → review → export → retrain → compare → promote → rollback.

The base model is trained on part of the sample data; complaints from another part arrive as
tickets, agents accept the right suggestions and correct the wrong ones to the true labels, the
reviewed tickets are exported and a new model is trained on base + export, compared on held-out
rows and promoted into the running service. A deliberately worse model (shuffled tiers) is
refused by the gate, forced through (recorded) and rolled back. The live figures of
`GET /v1/stats` are checked against what the test itself recorded.
"""

from __future__ import annotations

import csv
import json
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from api.cli import app
from api.deps import Services
from training.data import LabeledRow
from training.registry import Registry
from training.train import split_rows

from .conftest import Clock, TestClient, create_ticket, headers

runner = CliRunner()
INCOMING = 90  # tickets created from held-out sample complaints
# The promotion gate's tolerated macro-F1 loss: ~200 held-out rows move the tier head's macro-F1 by a
# couple of points from one training set to the next; a model with shuffled tiers loses far more.
MARGIN = 0.03
COLUMNS = ("id", "text", "category", "subtype", "tier", "demand", "channel", "created_at")


def write_rows(path: Path, rows: Sequence[LabeledRow]) -> Path:
    """Labeled rows as a training CSV."""
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(COLUMNS)
        for row in rows:
            writer.writerow([row.id, row.text, row.category, row.subtype, row.tier, row.demand or "", row.channel, ""])
    return path


def triage(*arguments: str) -> str:
    """Run `triage` in-process; fails the test on a non-zero exit. Returns stdout."""
    result = runner.invoke(app, list(arguments))
    assert result.exit_code == 0, result.output
    return result.stdout


def train_version(registry: Path, *data: Path, holdout: Path, promote: bool = False) -> str:
    """`triage train` on the files; the new version id (the command's last stdout line).

    The files are cut from the sample corpus, so the team corpus stays out (it holds them all).
    """
    options = [item for path in data for item in ("--data", str(path))]
    output = triage(
        "train",
        *options,
        "--no-team-corpus",
        "--eval",
        str(holdout),
        "--out",
        str(registry),
        *(["--promote"] if promote else []),
    )
    return output.strip().splitlines()[-1]


def services_of(client: TestClient) -> Services:
    """The app's shared services."""
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    return services


def served_version(client: TestClient) -> str:
    """Let the service look at the registry now, and return the version it serves."""
    services = services_of(client)
    assert services.models is not None
    services.models.refresh()
    version: str = client.get("/v1/model", headers=headers("analyst")).json()["version"]
    return version


def review_to_truth(client: TestClient, ticket: dict[str, Any], truth: LabeledRow) -> str:
    """Accept when the ticket shows the true labels, else correct it to them; the action taken."""
    shown = (ticket["category"]["code"], ticket["subtype"]["code"], ticket["tier"]["code"])
    if shown == truth.labels:
        body: dict[str, Any] = {"action": "accept"}
    else:
        body = {"action": "correct", "subtype": truth.subtype, "tier": truth.tier, "comment": "按实际情况更正"}
    response = client.post(f"/v1/tickets/{ticket['ticket_no']}/review", json=body, headers=headers("agent"))
    assert response.status_code == 200, response.text
    reviewed = response.json()["review"]
    assert (reviewed["category"]["code"], reviewed["subtype"]["code"], reviewed["tier"]["code"]) == truth.labels
    return str(body["action"])


def test_the_monthly_loop_end_to_end(
    tmp_path: Path, sample_rows: list[LabeledRow], make_client: Callable[..., TestClient], clock: Clock
) -> None:
    base_rows, rest = split_rows(sample_rows, 0.45)
    incoming, holdout_rows = rest[:INCOMING], rest[INCOMING:]
    base = write_rows(tmp_path / "base.csv", base_rows)
    holdout = write_rows(tmp_path / "holdout.csv", holdout_rows)
    registry = tmp_path / "models"
    first = train_version(registry, base, holdout=holdout, promote=True)

    client = make_client(registry=registry)
    assert served_version(client) == first

    # a month of complaints; agents review two of every three
    tickets = []
    for row in incoming:
        tickets.append(create_ticket(client, text=row.text, channel=row.channel or "online", customer_id=None))
        clock.advance(minutes=7)
    reviewed_index = [i for i in range(INCOMING) if i % 3 != 2]
    actions = [review_to_truth(client, tickets[i], incoming[i]) for i in reviewed_index]
    assert "accept" in actions and "correct" in actions

    export = tmp_path / "export.csv"
    settings = services_of(client).settings
    until = clock.now.astimezone(settings.zone).date().isoformat()
    database = ("--database-url", settings.resolved_database_url)
    triage("export", "--since", "2026-11-23", "--until", until, "--out", str(export), *database)
    with export.open(encoding="utf-8") as stream:
        exported = list(csv.DictReader(stream))
    assert len(exported) == len(reviewed_index)
    assert {row["ticket_no"] for row in exported} == {tickets[i]["ticket_no"] for i in reviewed_index}

    # retrain on base + export, compare on held-out rows, promote into the running service
    second = train_version(registry, base, export, holdout=holdout)
    metadata = json.loads((registry / second / "metadata.json").read_text(encoding="utf-8"))
    assert metadata["training_data"]["rows_used"] > len(base_rows) and len(metadata["training_data"]["files"]) == 2
    gate = ("--margin", str(MARGIN), "--registry", str(registry))
    comparison = json.loads(triage("compare", "--candidate", second, "--data", str(holdout), "--json", *gate))
    deltas = {head: figures["delta_macro_f1"] for head, figures in comparison["heads"].items()}
    assert comparison["baseline"] == first and comparison["verdict"] != "worse", deltas
    assert deltas["subtype"] > 0, deltas  # the agents' corrections taught it something
    triage("promote", second, "--data", str(holdout), "--actor", "ana", *gate)
    assert served_version(client) == second

    # a deliberately worse model: refused by the gate, forced (recorded), rolled back
    tiers = [row.tier for row in base_rows]
    random.Random(5).shuffle(tiers)
    shuffled = write_rows(tmp_path / "shuffled.csv", [replace(row, tier=tier) for row, tier in zip(base_rows, tiers)])
    worse = train_version(registry, shuffled, holdout=holdout)
    refused = runner.invoke(app, ["promote", worse, "--data", str(holdout), *gate])
    assert refused.exit_code == 1 and "promotion refused" in refused.output and "tier" in refused.output
    assert served_version(client) == second
    triage("promote", worse, "--data", str(holdout), "--force", "--actor", "ana", *gate)
    assert served_version(client) == worse
    forced = Registry(registry).history()[-1]
    assert (forced["version"], forced["forced"], forced["actor"]) == (worse, True, "ana") and "worse" in forced["note"]
    triage("rollback", "--actor", "ana", "--registry", str(registry))
    assert served_version(client) == second
    assert [entry["action"] for entry in Registry(registry).history()] == ["promote", "promote", "promote", "rollback"]

    # the live figures of the month, against what the test recorded
    stats = client.get(f"/v1/stats?from=2026-11-01&to={until}&group_by=month", headers=headers("analyst")).json()
    total = stats["total"]
    assert total["tickets"] == INCOMING and total["reviewed"] == len(reviewed_index)
    for position, head in enumerate(("category", "subtype", "tier")):
        kept = sum(tickets[i]["suggestion"][head]["code"] == incoming[i].labels[position] for i in reviewed_index)
        assert total["live_accuracy"][head] == kept / len(reviewed_index), head
    assert total["live_accuracy"]["demand"] == 1.0  # the reviews never changed the demand
    assert total["autofilled_share"] == sum(not ticket["needs_review"] for ticket in tickets) / INCOMING
    assert total["volume"]["channel"] == dict(Counter(row.channel or "online" for row in incoming))
