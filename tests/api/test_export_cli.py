"""`triage export` and `triage report` on the ticket database (SQLite and PostgreSQL)."""

from __future__ import annotations

import csv
import errno
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import pytest
from matplotlib.figure import Figure
from typer.testing import CliRunner

from api.cli import app
from api.schemas import Channel, Feedback, TicketStatus
from api.services import routing, tracking
from api.services.deadline_escalation import sweep_deadlines
from api.services.deadlines import DEADLINES
from api.services.tracking import FEEDBACK_NAMES
from model.files import with_umask
from model.taxonomy import Taxonomy
from training.data import CHANNEL_NAMES, CHANNELS, load_datasets
from training.monthly import (
    CLOSING_FEEDBACK,
    CONFIRMING_FEEDBACK,
    DEADLINE_KINDS,
    ESCALATION_COLUMNS,
    EXPORT_COLUMNS,
    HEAD_COLUMNS,
    PASSED_COLUMNS,
    SLA_STATES,
    STATUSES,
    URGENT_HEAD_COLUMNS,
    read_export,
    summarise,
)
from training.train import DEFAULT_SAMPLE

from .conftest import Clock, TestClient, create_ticket, headers, read_csv, write_csv

runner = CliRunner()
LATE = "快递显示已发货五天了还没送到，物流信息一直不更新，要求尽快送达。"
RUDE = "客服态度非常差，说话很不耐烦，还直接挂我电话13812345678。"


def _post(client: TestClient, path: str, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    response = client.post(path, json=body, headers=headers("agent"))
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.fixture
def tickets(store_client: TestClient, clock: Clock) -> dict[str, dict[str, Any]]:
    """Four tickets of 2026-11-23: corrected, accepted (closed, surveyed), unreviewed, and unusable text."""
    made = {
        "corrected": create_ticket(store_client, text=LATE, channel="online"),
        "accepted": create_ticket(
            store_client, text=RUDE, channel="phone", location="南京西路门店", demand_note="要店长道歉，回电13912345678"
        ),
        "unreviewed": create_ticket(store_client, text=LATE + "已经第二次了", channel="email"),
        "no_letters": create_ticket(store_client, text="？？？！！！", channel="social"),
    }
    corrected, accepted = made["corrected"]["ticket_no"], made["accepted"]["ticket_no"]
    made["corrected"] = _post(
        store_client, f"/v1/tickets/{corrected}/review", {"action": "correct", "subtype": "courier_service"}
    )
    made["accepted"] = _post(store_client, f"/v1/tickets/{accepted}/review", {"action": "accept"})
    _post(store_client, f"/v1/tickets/{made['no_letters']['ticket_no']}/review", {"action": "accept"})
    clock.advance(minutes=30)
    _post(store_client, f"/v1/tickets/{accepted}/events", {"stage": "customer_contacted"}, 201)
    clock.advance(hours=100)
    _post(store_client, f"/v1/tickets/{accepted}/events", {"stage": "resolved", "resolution": "已道歉"}, 201)
    _post(store_client, f"/v1/tickets/{accepted}/events", {"stage": "closed", "feedback": "mostly"}, 201)
    _post(
        store_client,
        f"/v1/tickets/{accepted}/survey",
        {"timeliness": 2, "effectiveness": 3, "attitude": 4, "overall": 3},
        201,
    )
    clock.advance(hours=-100)
    return made


def _export(database_url: str, out: Path | str, *extra: str) -> Any:
    return runner.invoke(
        app,
        [
            "export",
            "--since",
            "2026-11-23",
            "--until",
            "2026-11-23",
            "--out",
            str(out),
            "--database-url",
            database_url,
            *extra,
        ],
        env={"COLUMNS": "400"},  # a long path in a usage error's box is not wrapped
    )


def test_export_writes_reviewed_tickets_as_training_rows(
    tickets: dict[str, dict[str, Any]], database_url: str, tmp_path: Path, taxonomy: Taxonomy
) -> None:
    out = tmp_path / "export.csv"
    result = _export(database_url, out)
    assert result.exit_code == 0, result.output
    assert "wrote 2 reviewed tickets" in result.output and "1 left out" in result.output
    assert f"ticket {tickets['no_letters']['ticket_no']}, column text" in result.output
    assert out.stat().st_mode & 0o777 == with_umask(0o666)
    header, rows = read_csv(out)
    assert tuple(header) == EXPORT_COLUMNS
    by_no = {row["ticket_no"]: row for row in rows}
    assert set(by_no) == {tickets["corrected"]["ticket_no"], tickets["accepted"]["ticket_no"]}
    corrected = by_no[tickets["corrected"]["ticket_no"]]
    assert (corrected["category"], corrected["subtype"]) == ("logistics", "courier_service")
    suggestion = tickets["corrected"]["suggestion"]
    assert corrected["suggested_subtype"] == suggestion["subtype"]["code"]
    assert (
        corrected["suggested_tier"] == suggestion["tier"]["code"]
        and corrected["tier"] == tickets["corrected"]["tier"]["code"]
    )
    assert corrected["reviewed"] == "true" and corrected["reviewed_by"] == "agent-tester"
    assert corrected["needs_review"] == str(tickets["corrected"]["needs_review"]).lower()
    assert corrected["created_at"] == "2026-11-23T10:00:00+08:00" and corrected["department"] == "logistics"
    assert corrected["survey_overall"] == "" and corrected["first_response_at"] == ""
    accepted = by_no[tickets["accepted"]["ticket_no"]]
    assert "[PHONE]" in accepted["text"] and "13812345678" not in accepted["text"]
    assert accepted["first_response_sla"] == "met" and accepted["resolution_sla"] == "breached"  # 100 h late
    assert accepted["first_response_at"] == "2026-11-23T10:30:00+08:00" and accepted["status"] == "closed"
    assert [accepted[f"survey_{name}"] for name in ("timeliness", "effectiveness", "attitude", "overall")] == list(
        "2343"
    )
    assert (accepted["location"], accepted["demand_note"]) == ("南京西路门店", "要店长道歉，回电[PHONE]")
    assert accepted["received_by"] == corrected["received_by"] == "intake-tester"
    assert corrected["location"] == corrected["demand_note"] == ""
    assert (accepted["closing_feedback"], corrected["closing_feedback"]) == ("mostly", "")  # corrected is open
    # training accepts it, alone and beside the base data
    alone = load_datasets([out], taxonomy)
    assert not alone.fatal and len(alone.rows) == 2
    assert alone.rows[0].created_at == "2026-11-23T10:00:00+08:00" and alone.rows[0].channel == "online"
    assert not load_datasets([DEFAULT_SAMPLE, out], taxonomy).fatal


def test_an_export_of_days_without_reviewed_tickets_says_why_there_may_be_none(
    tickets: dict[str, dict[str, Any]], database_url: str, tmp_path: Path
) -> None:
    # the days are the business time zone's: an operator reading the UTC date got 0 rows, silently
    out = tmp_path / "empty.csv"
    result = runner.invoke(
        app,
        ["export", "--since", "2026-11-22", "--until", "2026-11-22", "--out", str(out), "--database-url", database_url],
    )
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "wrote 0 reviewed tickets" in said
    assert (
        "warning: no reviewed tickets received 2026-11-22..2026-11-22 (days in Asia/Shanghai, TRIAGE_TIMEZONE" in said
    )
    assert "triage train refuses a file with no rows" in said
    assert "warning" not in _export(database_url, tmp_path / "full.csv").output  # rows: no warning


def test_cells_a_spreadsheet_would_run_as_formulas_are_exported_as_text_and_read_back_as_sent(
    store_client: TestClient, database_url: str, tmp_path: Path, taxonomy: Taxonomy
) -> None:
    # a Weibo post begins with "@brand"; a hostile text with "=HYPERLINK(...)": Excel runs both as formulas
    weibo = "@某快递 包裹显示签收了但我根本没收到，打客服电话也没人接，要求马上处理。"
    link = '=HYPERLINK("http://example.com/x","查看物流")快递五天了还没送到'
    made = [
        create_ticket(store_client, text=weibo, channel="social", location="-3楼快递柜"),
        create_ticket(store_client, text=link, channel="online", demand_note="+尽快送达"),
    ]
    for ticket in made:
        _post(store_client, f"/v1/tickets/{ticket['ticket_no']}/review", {"action": "accept"})
    out = tmp_path / "export.csv"
    assert _export(database_url, out).exit_code == 0
    raw = out.read_text(encoding="utf-8")
    assert "'@某快递" in raw and "'=HYPERLINK(" in raw and "'-3楼快递柜" in raw and "'+尽快送达" in raw
    _, written = read_csv(out)
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in written for cell in row.values())
    # what the project reads back is what was sent: the monthly report, training
    by_no = {row["ticket_no"]: row for row in read_export(out, taxonomy)}
    first, second = (by_no[ticket["ticket_no"]] for ticket in made)
    assert (first["text"], first["location"]) == (weibo, "-3楼快递柜")
    assert (second["text"], second["demand_note"]) == (link, "+尽快送达")
    assert sorted(row.text for row in load_datasets([out], taxonomy).rows) == sorted([weibo, link])


def test_a_cell_whose_own_apostrophe_precedes_a_formula_start_reads_back_as_sent(
    client: TestClient, tmp_path: Path, taxonomy: Taxonomy
) -> None:
    # the customer's own apostrophe before "@": without a second mark, a spreadsheet and every
    # reader of the project took it for the text mark and dropped it
    quoted = "'@某快递 包裹显示签收了但我根本没收到，打客服电话也没人接，要求马上处理。"
    ticket = create_ticket(client, text=quoted, channel="social", location="'-3楼快递柜")
    assert ticket["text"] == quoted
    _post(client, f"/v1/tickets/{ticket['ticket_no']}/review", {"action": "accept"})
    database_url = client.app.state.services.settings.resolved_database_url  # type: ignore[attr-defined]
    out = tmp_path / "export.csv"
    assert _export(database_url, out).exit_code == 0
    _, written = read_csv(out)
    assert (written[0]["text"], written[0]["location"]) == ("'" + quoted, "''-3楼快递柜")
    (row,) = read_export(out, taxonomy)
    assert (row["text"], row["location"]) == (quoted, "'-3楼快递柜")
    assert [item.text for item in load_datasets([out], taxonomy).rows] == [quoted]


def test_export_never_replaces_a_file_unless_forced_nor_leaves_one_half_written(
    tickets: dict[str, dict[str, Any]], database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    for named in (str(folder), f"{folder}/", f"{folder / 'november'}/"):
        refused_folder = _export(database_url, named)
        assert refused_folder.exit_code == 2 and f"{named} names a folder; give a file path" in refused_folder.output
    assert list(folder.iterdir()) == []
    out = folder / "export.csv"
    out.write_text("last month's export\n", encoding="utf-8")
    refused = _export(database_url, out)
    assert refused.exit_code == 1 and isinstance(refused.exception, SystemExit), refused.output
    assert f"--out {out} already exists" in refused.output and "--force" in refused.output
    assert out.read_text(encoding="utf-8") == "last month's export\n"
    # Forced, and the disk fills up halfway: the file keeps its old content, no temporary file stays.
    original_writerow = csv.DictWriter.writerow

    def writerow_until_full(writer: csv.DictWriter[str], row: Any) -> Any:
        if row.get("ticket_no") == tickets["accepted"]["ticket_no"]:
            raise OSError(errno.ENOSPC, "No space left on device")
        return original_writerow(writer, row)

    with monkeypatch.context() as patched:
        patched.setattr(csv.DictWriter, "writerow", writerow_until_full)
        full = _export(database_url, out, "--force")
    assert full.exit_code == 1 and "No space left" in full.output, full.output
    assert out.read_text(encoding="utf-8") == "last month's export\n"
    assert [path.name for path in folder.iterdir()] == ["export.csv"]
    forced = _export(database_url, out, "--force")
    assert forced.exit_code == 0, forced.output
    header, rows = read_csv(out)
    assert tuple(header) == EXPORT_COLUMNS and len(rows) == 2
    # Another export of the same name finishes first, while this one reads the tickets: it is kept.
    other = folder / "other.csv"

    def writerow_racing(writer: csv.DictWriter[str], row: Any) -> Any:
        if not other.exists():
            other.write_text("the other export\n", encoding="utf-8")
        return original_writerow(writer, row)

    with monkeypatch.context() as patched:
        patched.setattr(csv.DictWriter, "writerow", writerow_racing)
        raced = _export(database_url, other)
    assert raced.exit_code == 1 and f"--out {other} already exists" in raced.output, raced.output
    assert other.read_text(encoding="utf-8") == "the other export\n"
    assert sorted(path.name for path in folder.iterdir()) == ["export.csv", "other.csv"]
    in_a_file = _export(database_url, out / "export.csv", "--force")
    assert in_a_file.exit_code == 1 and f"{out} is a file, not a folder" in in_a_file.output, in_a_file.output


def test_export_all_has_every_ticket_with_effective_labels(
    tickets: dict[str, dict[str, Any]], database_url: str, tmp_path: Path
) -> None:
    out = tmp_path / "all.csv"
    result = _export(database_url, out, "--all")
    assert result.exit_code == 0, result.output
    _, rows = read_csv(out)
    assert [row["ticket_no"] for row in rows] == [ticket["ticket_no"] for ticket in tickets.values()]
    unreviewed = rows[2]
    assert unreviewed["reviewed"] == "false" and unreviewed["reviewed_by"] == "" and unreviewed["reviewed_at"] == ""
    assert unreviewed["subtype"] == tickets["unreviewed"]["subtype"]["code"]
    assert unreviewed["tier"] == tickets["unreviewed"]["tier"]["code"]
    assert {row["first_response_sla"] for row in rows} <= {"met", "breached", "pending"}
    empty = _export(database_url, tmp_path / "none.csv", "--all", "--since", "2026-01-01", "--until", "2026-01-31")
    assert empty.exit_code == 0 and read_csv(tmp_path / "none.csv") == (list(EXPORT_COLUMNS), [])


def test_report_from_the_database_and_from_an_export_agree(
    tickets: dict[str, dict[str, Any]], database_url: str, tmp_path: Path
) -> None:
    from_db = runner.invoke(
        app, ["report", "--month", "2026-11", "--out", str(tmp_path / "db"), "--database-url", database_url]
    )
    assert from_db.exit_code == 0, from_db.output
    assert _export(database_url, tmp_path / "all.csv", "--all").exit_code == 0
    from_file = runner.invoke(
        app, ["report", "--month", "2026-11", "--out", str(tmp_path / "file"), "--data", str(tmp_path / "all.csv")]
    )
    assert from_file.exit_code == 0, from_file.output
    report = (tmp_path / "db" / "report.md").read_text(encoding="utf-8")
    assert report.startswith("# Complaints in 2026-11\n\nRead from the ticket database.\n")
    assert "4 tickets; 3 reviewed by agents" in report
    # it said "The export holds no ticket …" when no export was read
    assert "The ticket database holds no ticket created in 2026-10." in report
    from_export = (tmp_path / "file" / "report.md").read_text(encoding="utf-8")
    assert f"Read from the export {tmp_path / 'all.csv'}." in from_export
    assert f"The export {tmp_path / 'all.csv'} holds no ticket created in 2026-10." in from_export
    assert "| closures the customer confirmed (满意 or 基本满意) | 100.0 % |" in report  # the one closed: mostly
    department = tickets["accepted"]["department"]
    assert f"| closures confirmed, {department['name']} ({department['code']}) | 100.0 % |" in report
    assert _figures(report) == _figures(from_export)
    for name in ("weekly_volume.png", "suggested_vs_final_subtype.png", "sla_and_csat.png"):
        assert (tmp_path / "db" / name).stat().st_size > 1000


def test_an_export_made_before_the_new_columns_is_still_read(
    tickets: dict[str, dict[str, Any]], database_url: str, tmp_path: Path
) -> None:
    new_columns = ("location", "demand_note", "received_by")
    assert _export(database_url, tmp_path / "all.csv", "--all").exit_code == 0
    header, rows = read_csv(tmp_path / "all.csv")
    old_header = [column for column in header if column not in new_columns]
    assert len(old_header) == len(header) - 3
    old = write_csv(tmp_path / "old.csv", old_header, rows)  # the columns of an export of the previous release
    read = read_export(old)
    assert [row["ticket_no"] for row in read] == [row["ticket_no"] for row in rows]
    assert all(row[column] == "" for row in read for column in new_columns)
    assert summarise(read) == summarise(read_export(tmp_path / "all.csv"))
    reports = {}
    for name in ("old", "all"):
        made = runner.invoke(
            app,
            [
                "report",
                "--month",
                "2026-11",
                "--out",
                str(tmp_path / f"report-{name}"),
                "--data",
                str(tmp_path / f"{name}.csv"),
            ],
        )
        assert made.exit_code == 0, made.output
        reports[name] = (tmp_path / f"report-{name}" / "report.md").read_text(encoding="utf-8")
    assert _figures(reports["old"]) == _figures(reports["all"]) and "4 tickets" in reports["old"]


def test_an_export_without_the_closing_feedback_is_read_without_a_confirmation_rate(
    tickets: dict[str, dict[str, Any]], database_url: str, tmp_path: Path, store_client: TestClient
) -> None:
    accepted = tickets["accepted"]["ticket_no"]
    assert _export(database_url, tmp_path / "all.csv", "--all").exit_code == 0
    header, rows = read_csv(tmp_path / "all.csv")
    assert [row["closing_feedback"] for row in rows] == ["", "mostly", "", ""]
    # an export of the release before closing_feedback (and the columns after it)
    old = write_csv(tmp_path / "old.csv", header[: header.index("closing_feedback")], rows)
    before, now = summarise(read_export(old)), summarise(read_export(tmp_path / "all.csv"))
    assert (before["closure_confirmation_rate"], before["closure_confirmation_by_department"]) == (None, {})
    assert now["closure_confirmation_rate"] == 1.0
    newer = ("closure_confirmation", "deadline_escalation", "urgent_head_escalations")
    assert {key: value for key, value in before.items() if not key.startswith(newer)} == {
        key: value for key, value in now.items() if not key.startswith(newer)
    }
    made = runner.invoke(app, ["report", "--month", "2026-11", "--out", str(tmp_path / "r"), "--data", str(old)])
    assert made.exit_code == 0, made.output
    assert "| closures the customer confirmed (满意 or 基本满意) | – |" in (tmp_path / "r" / "report.md").read_text(
        encoding="utf-8"
    )
    # reopened, the ticket's closure no longer counts; closed again over 不满意, it is not confirmed
    reopen = {"stage": "reopened", "note": "客户又来电"}
    _post(store_client, f"/v1/tickets/{accepted}/events", reopen, 201)
    assert _export(database_url, tmp_path / "reopened.csv", "--all").exit_code == 0
    assert summarise(read_export(tmp_path / "reopened.csv"))["closure_confirmation_rate"] is None
    _post(store_client, f"/v1/tickets/{accepted}/events", {"stage": "resolved", "resolution": "店长已致歉"}, 201)
    closing = {"stage": "closed", "feedback": "not", "note": "客户仍不满意，主管同意闭环"}
    _post(store_client, f"/v1/tickets/{accepted}/events", closing, 201)
    assert _export(database_url, tmp_path / "again.csv", "--all").exit_code == 0
    again = read_export(tmp_path / "again.csv")
    assert [row["closing_feedback"] for row in again if row["ticket_no"] == accepted] == ["not"]
    assert summarise(again)["closure_confirmation_rate"] == 0.0


def _same_report(database_url: str, tmp_path: Path) -> str:
    """November's monthly report made from the database and from its export `tmp_path/all.csv`,
    asserted to be the same; its text."""
    reports = []
    for source in (["--database-url", database_url], ["--data", str(tmp_path / "all.csv")]):
        out = tmp_path / f"report-{source[0][2:]}"
        made = runner.invoke(app, ["report", "--month", "2026-11", "--out", str(out), *source])
        assert made.exit_code == 0, made.output
        reports.append((out / "report.md").read_text(encoding="utf-8"))
    assert _figures(reports[0]) == _figures(reports[1])
    return reports[1]


def _figures(report: str) -> list[str]:
    """The lines of a monthly report but those about what it was read from (an export in which every
    ticket was reviewed is warned of: it may be one made without --all)."""
    said = ("Read from ", "**Warning:** every ticket of ")
    lines = report.splitlines()
    return [line for line in lines if line and not line.startswith(said) and " holds no ticket " not in line]


def test_a_report_from_the_database_compares_with_the_month_before(
    store_client: TestClient, clock: Clock, database_url: str, tmp_path: Path
) -> None:
    # the database was read for the month's days only: the month before was never there to compare with
    clock.advance(days=-30)  # 2026-10-24
    create_ticket(store_client, text=RUDE, channel="phone")
    clock.advance(days=30)
    for _ in range(2):
        create_ticket(store_client, text=LATE, channel="online")
    made = runner.invoke(
        app, ["report", "--month", "2026-11", "--out", str(tmp_path / "r"), "--database-url", database_url]
    )
    assert made.exit_code == 0, made.output
    assert "(2 tickets)" in made.output  # November's
    report = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    assert "2 tickets; 0 reviewed by agents" in report
    assert "| tickets | 1 | 2 |" in report and "holds no ticket" not in report


def _sweep(client: TestClient, local_time: str) -> list[tuple[str, str, bool, int]]:
    """The real deadline sweep on the app's database at a time of Shanghai: (ticket, deadline, passed, level)."""
    now = datetime.fromisoformat(local_time + "+08:00").astimezone(UTC)
    with client.app.state.services.database.session() as session:  # type: ignore[attr-defined]
        done = sweep_deadlines(session, now=now, share=0.2)
    return [(item.ticket_no, item.deadline, item.passed, item.level) for item in done]


def test_exports_say_when_each_deadline_was_escalated_and_the_report_counts_them(
    tickets: dict[str, dict[str, Any]],
    database_url: str,
    tmp_path: Path,
    store_client: TestClient,
    clock: Clock,
    taxonomy: Taxonomy,
) -> None:
    # every ticket of the fixture is P2, received at 10:00: first response due at 12:00 (near from
    # 11:36), resolution on the 25th at 10:00 (near from 00:24); `accepted` was answered at 10:30
    number = {name: ticket["ticket_no"] for name, ticket in tickets.items()}
    assert {ticket["tier"]["code"] for ticket in tickets.values()} == {"P2"}
    clock.advance(minutes=105)
    late = create_ticket(store_client, text=RUDE, channel="phone")["ticket_no"]  # 11:45, P2: due at 13:45
    near = _sweep(store_client, "2026-11-23T11:40:00")
    assert near == [(number[name], "first_response", False, 1) for name in ("corrected", "unreviewed", "no_letters")]
    clock.advance(minutes=5)
    _post(store_client, f"/v1/tickets/{number['corrected']}/events", {"stage": "customer_contacted"}, 201)
    clock.advance(hours=22, minutes=10)  # 2026-11-24 10:00
    _post(store_client, f"/v1/tickets/{number['corrected']}/events", {"stage": "resolved", "resolution": "已补发"}, 201)
    later = _sweep(store_client, "2026-11-25T09:00:00")
    unanswered = ("unreviewed", "no_letters")  # their first responses passed unmet: to the head
    assert sorted(later) == sorted(
        [(late, "first_response", True, 1), (late, "first_response", True, 2), (late, "resolution", False, 1)]
        + [(number[name], "first_response", True, 2) for name in unanswered]
        + [(number[name], "resolution", False, 1) for name in unanswered]
    )
    passed = _sweep(store_client, "2026-11-26T10:00:00")  # the resolutions passed unmet: to the head
    assert sorted(passed) == sorted((number, "resolution", True, 2) for number in (late, *map(number.get, unanswered)))
    assert _sweep(store_client, "2026-11-27T10:00:00") == []  # once per deadline and level

    assert _export(database_url, tmp_path / "all.csv", "--all").exit_code == 0
    header, rows = read_csv(tmp_path / "all.csv")
    assert tuple(header[-7:-5]) == ESCALATION_COLUMNS == ("first_response_escalated_at", "resolution_escalated_at")
    assert tuple(header[-5:-3]) == PASSED_COLUMNS == ("first_response_escalated_passed", "resolution_escalated_passed")
    assert tuple(header[-3:-1]) == HEAD_COLUMNS == ("first_response_head_escalated_at", "resolution_head_escalated_at")
    assert tuple(header[-1:]) == URGENT_HEAD_COLUMNS == ("head_escalated_at",)
    escalated = {row["ticket_no"]: (row["first_response_escalated_at"], row["resolution_escalated_at"]) for row in rows}
    assert escalated == {
        number["corrected"]: ("2026-11-23T11:40:00+08:00", ""),
        number["accepted"]: ("", ""),
        number["unreviewed"]: ("2026-11-23T11:40:00+08:00", "2026-11-25T09:00:00+08:00"),
        number["no_letters"]: ("2026-11-23T11:40:00+08:00", "2026-11-25T09:00:00+08:00"),
        late: ("2026-11-25T09:00:00+08:00", "2026-11-25T09:00:00+08:00"),
    }
    # the sweep's verdicts, as it returned them above
    verdicts = {row["ticket_no"]: tuple(row[column] for column in PASSED_COLUMNS) for row in rows}
    assert verdicts == {
        number["corrected"]: ("false", ""),
        number["accepted"]: ("", ""),
        number["unreviewed"]: ("false", "false"),
        number["no_letters"]: ("false", "false"),
        late: ("true", "false"),
    }
    heads = {row["ticket_no"]: tuple(row[column] for column in HEAD_COLUMNS) for row in rows}
    assert heads == {
        number["corrected"]: ("", ""),
        number["accepted"]: ("", ""),
        **{
            number[name]: ("2026-11-25T09:00:00+08:00", "2026-11-26T10:00:00+08:00")
            for name in ("unreviewed", "no_letters")
        },
        late: ("2026-11-25T09:00:00+08:00", "2026-11-26T10:00:00+08:00"),
    }
    summary = summarise(read_export(tmp_path / "all.csv"))
    assert summary["deadline_escalation_rate"] == 0.8  # 4 of the 5 tickets
    departments = {number[name]: ticket["department"]["code"] for name, ticket in tickets.items()}
    assert [departments[number[name]] for name in ("corrected", "unreviewed", "no_letters", "accepted")] == [
        "logistics",
        "logistics",
        "tech",
        "cs",
    ]
    assert summary["deadline_escalation_by_department"] == {"cs": 0.5, "logistics": 1.0, "tech": 1.0}  # late: cs
    assert summary["deadline_escalation_by_tier"] == {"P2": 0.8}
    assert summary["deadline_escalations"] == {
        "first_response": {"escalated": 4, "passed": 1, "head_escalated": 3},
        "resolution": {"escalated": 3, "passed": 0, "head_escalated": 3},
    }
    report = _same_report(database_url, tmp_path)
    for line in (
        "| tickets escalated on a deadline (时限升级) | 80.0 % |",
        "| escalated on a deadline, 二级（重要） (P2) | 80.0 % |",
        "| escalated on a deadline, 客服部 (cs) | 50.0 % |",
        "| deadlines escalated, first response (首次响应) | 4 (1 already passed) |",
        "| deadlines escalated, resolution (解决) | 3 (0 already passed) |",
        "| deadlines escalated to the department head (部门负责人), first response (首次响应) | 3 |",
        "| deadlines escalated to the department head (部门负责人), resolution (解决) | 3 |",
    ):
        assert line in report
    # training reads the export of reviewed tickets, escalation columns and all, as before
    assert _export(database_url, tmp_path / "reviewed.csv").exit_code == 0
    _, reviewed = read_csv(tmp_path / "reviewed.csv")
    assert [row["first_response_escalated_at"] for row in reviewed] == ["2026-11-23T11:40:00+08:00", ""]
    dataset = load_datasets([tmp_path / "reviewed.csv"], taxonomy)
    assert not dataset.fatal and len(dataset.rows) == 2
    # the export of the release before the urgent escalations to the head (head_escalated_at): the same
    # deadline figures, the urgent escalations unavailable rather than 0
    assert summary["urgent_head_escalations"] == 0
    no_urgent = summarise(read_export(write_csv(tmp_path / "no_urgent.csv", header[:-1], rows)))
    assert no_urgent == {**summary, "urgent_head_escalations": None}
    # the export of the release before the escalations to the head: their counts unavailable, not 0
    no_heads = write_csv(tmp_path / "no_heads.csv", header[:-3], rows)
    unavailable = {
        kind: {**figures, "head_escalated": None} for kind, figures in summary["deadline_escalations"].items()
    }
    without = {"deadline_escalations": unavailable, "urgent_head_escalations": None}
    assert summarise(read_export(no_heads)) == {**summary, **without}
    made = runner.invoke(app, ["report", "--month", "2026-11", "--out", str(tmp_path / "h"), "--data", str(no_heads)])
    assert made.exit_code == 0, made.output
    report = (tmp_path / "h" / "report.md").read_text(encoding="utf-8")
    assert "| deadlines escalated to the department head (部门负责人), resolution (解决) | – |" in report
    assert "| deadlines escalated, resolution (解决) | 3 (0 already passed) |" in report
    # the export of the release before the verdicts: "passed" from the times, the same here (no re-tiering)
    unjudged = write_csv(tmp_path / "unjudged.csv", header[:-5], rows)
    assert summarise(read_export(unjudged)) == {**summary, **without}
    # the export of the release before the escalation columns: read, the escalation figures unavailable
    older = write_csv(tmp_path / "older.csv", header[:-7], rows)
    before = summarise(read_export(older))
    assert before["deadline_escalation_rate"] is None and before["deadline_escalations"] == {}
    newer = ("deadline_escalation", "urgent_head_escalations")
    assert before["urgent_head_escalations"] is None
    assert {key: value for key, value in before.items() if not key.startswith(newer)} == {
        key: value for key, value in summary.items() if not key.startswith(newer)
    }
    made = runner.invoke(app, ["report", "--month", "2026-11", "--out", str(tmp_path / "r"), "--data", str(older)])
    assert made.exit_code == 0, made.output
    report = (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    assert "| tickets escalated on a deadline (时限升级) | – |" in report and "deadlines escalated" not in report


def test_passed_is_the_sweeps_verdict_in_the_export_its_report_and_the_stats_after_a_re_tiering(
    database_url: str, tmp_path: Path, store_client: TestClient, clock: Clock
) -> None:
    # P2 tickets: `late` received at 10:00 (first response due at 12:00) and escalated at 12:30,
    # passed, then re-tiered P3 (due at 14:00, after the escalation); `near` and `nearer` received
    # at 12:30 (due at 14:30) and escalated at 14:10, near, then re-tiered P1 (due at 13:30, before)
    late = create_ticket(store_client, text=RUDE, channel="phone")["ticket_no"]
    clock.advance(minutes=150)
    near = create_ticket(store_client, text=LATE, channel="online")["ticket_no"]
    nearer = create_ticket(store_client, text=LATE + "已经第二次了", channel="email")["ticket_no"]
    assert _sweep(store_client, "2026-11-23T12:30:00") == [
        (late, "first_response", True, 1),
        (late, "first_response", True, 2),  # found passed: to the head in the same sweep
    ]
    _post(store_client, f"/v1/tickets/{late}/review", {"action": "correct", "tier": "P3", "comment": "只要求道歉"})
    assert _sweep(store_client, "2026-11-23T14:10:00") == [
        (near, "first_response", False, 1),
        (nearer, "first_response", False, 1),
    ]
    for number in (near, nearer):
        _post(store_client, f"/v1/tickets/{number}/review", {"action": "correct", "tier": "P1"})

    assert _export(database_url, tmp_path / "all.csv", "--all").exit_code == 0
    header, rows = read_csv(tmp_path / "all.csv")
    by_number = {row["ticket_no"]: row for row in rows}
    columns = ("tier", "first_response_due", "first_response_escalated_at", "first_response_escalated_passed")
    assert {number: tuple(row[column] for column in columns) for number, row in by_number.items()} == {
        late: ("P3", "2026-11-23T14:00:00+08:00", "2026-11-23T12:30:00+08:00", "true"),
        near: ("P1", "2026-11-23T13:30:00+08:00", "2026-11-23T14:10:00+08:00", "false"),
        nearer: ("P1", "2026-11-23T13:30:00+08:00", "2026-11-23T14:10:00+08:00", "false"),
    }
    exported = read_export(tmp_path / "all.csv")
    figures = {"escalated": 3, "passed": 1, "head_escalated": 1}
    assert summarise(exported)["deadline_escalations"]["first_response"] == figures
    for number, passed in ((late, 1), (near, 0)):
        (row,) = [row for row in exported if row["ticket_no"] == number]
        mine = {"escalated": 1, "passed": passed, "head_escalated": passed}
        assert summarise([row])["deadline_escalations"]["first_response"] == mine
    # the report of that export, and the one made from the database, say the same
    report = _same_report(database_url, tmp_path)
    assert "| deadlines escalated, first response (首次响应) | 3 (1 already passed) |" in report
    # so do the stats
    stats = store_client.get("/v1/stats?from=2026-11-23&to=2026-11-23", headers=headers("analyst")).json()
    assert stats["total"]["deadline_escalation"]["first_response"] == figures
    # an export without the verdicts (an earlier release's) can only compare the times it gives
    unjudged = summarise(read_export(write_csv(tmp_path / "unjudged.csv", header[:-5], rows)))
    assert unjudged["deadline_escalations"]["first_response"] == {"escalated": 3, "passed": 2, "head_escalated": None}


def test_exports_and_the_service_agree_on_the_closing_feedback_and_the_deadlines() -> None:
    # training/ does not import api/: the export format repeats the service's codes
    assert CLOSING_FEEDBACK == tuple(FEEDBACK_NAMES) == get_args(Feedback)
    assert CONFIRMING_FEEDBACK == tracking.CONFIRMING_FEEDBACK == ("satisfied", "mostly")
    # and the service's deadlines, whose escalation columns the export writes, with the sweep's verdicts
    assert tuple(DEADLINES) == DEADLINE_KINDS
    assert tuple(deadline.passed.key for deadline in DEADLINES.values()) == PASSED_COLUMNS
    assert tuple(deadline.head_escalated.key for deadline in DEADLINES.values()) == HEAD_COLUMNS
    # the closed sets a report checks an export file against: statuses, channels, SLA states
    assert STATUSES == tuple(tracking.STATUS_NAMES) == get_args(TicketStatus)
    assert CHANNELS == tuple(CHANNEL_NAMES) == get_args(Channel)
    assert tuple(routing.SLA_STATES) == SLA_STATES


def test_a_report_on_an_export_with_values_the_service_never_writes_lists_them_and_writes_nothing(
    tmp_path: Path,
) -> None:
    sample = Path(__file__).resolve().parents[2] / "data" / "sample_export.csv"
    header, rows = read_csv(sample)
    october = [row for row in rows if row["created_at"].startswith("2026-10")]
    october[0].update(tier="P9", status="weird", first_response_sla="weird", emotion_index="NaN")
    october[1].update(department="nope", channel="fax", category="Product")
    october[2].update(category="product", subtype="late_delivery")
    broken = write_csv(tmp_path / "broken.csv", header, rows)
    number = {row["ticket_no"]: index + 2 for index, row in enumerate(rows)}
    first, second, third = (number[row["ticket_no"]] for row in october[:3])
    out = tmp_path / "report"
    result = runner.invoke(app, ["report", "--month", "2026-10", "--out", str(out), "--data", str(broken)])
    assert result.exit_code == 1, result.output
    for where, what in (
        (f"row {first}, column tier", "'P9' is not a tier"),
        (f"row {first}, column status", "'weird' is not a ticket status"),
        (f"row {first}, column first_response_sla", "'weird' is not an SLA state"),
        (f"row {first}, column emotion_index", "'NaN' is not an integer from 0 to 100"),
        (f"row {second}, column department", "'nope' is not a department"),
        (f"row {second}, column channel", "'fax' is not a channel"),
        (f"row {second}, column category", "'Product' is not a category"),
        (f"row {third}, column subtype", "'late_delivery' is a subtype of logistics, not of product"),
    ):
        assert f"{broken}, {where}: {what}" in result.output
    assert not out.exists()
    # an --out that is a file is said before the export is read
    a_file = tmp_path / "afile"
    a_file.write_text("x", encoding="utf-8")
    on_file = runner.invoke(app, ["report", "--month", "2026-10", "--out", str(a_file), "--data", str(sample)])
    assert on_file.exit_code == 1 and f"--out {a_file} is a file; give a folder" in on_file.output
    assert "File exists" not in on_file.output and a_file.read_text(encoding="utf-8") == "x"
    # the codes are the taxonomy's that --taxonomy names
    renamed = tmp_path / "taxonomy.yaml"
    taxonomy_file = Path(__file__).resolve().parents[2] / "data" / "taxonomy.yaml"
    renamed.write_text(taxonomy_file.read_text(encoding="utf-8").replace("P3,", "P9,"), encoding="utf-8")
    other = runner.invoke(
        app, ["report", "--month", "2026-10", "--out", str(out), "--data", str(sample), "--taxonomy", str(renamed)]
    )
    assert other.exit_code == 1 and "'P3' is not a tier of the taxonomy (expected one of P1, P2, P9)" in other.output
    assert not out.exists()


def test_a_report_it_cannot_make_leaves_the_folder_as_it_was(
    tickets: dict[str, dict[str, Any]], database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert _export(database_url, tmp_path / "all.csv", "--all").exit_code == 0
    out = tmp_path / "report"
    out.mkdir()
    (out / "report.md").write_text("last month's", encoding="utf-8")
    empty = runner.invoke(app, ["report", "--month", "2026-09", "--out", str(out), "--data", str(tmp_path / "all.csv")])
    assert empty.exit_code == 1 and "no tickets created in 2026-09" in empty.output
    header, rows = read_csv(tmp_path / "all.csv")
    rows[0]["created_at"] = "2026-11-08 上午"
    rows[1]["survey_overall"] = "很好"
    rows[2]["tier"] = ""
    rows[3]["resolved_at"] = "2020-01-01T00:00:00+08:00"
    rows[3]["closing_feedback"] = "很满意"
    broken = write_csv(tmp_path / "broken.csv", header, rows)
    bad = runner.invoke(app, ["report", "--month", "2026-11", "--out", str(out), "--data", str(broken)])
    assert bad.exit_code == 1, bad.output
    assert "row 2, column created_at" in bad.output and "row 3, column survey_overall" in bad.output
    assert "row 4, column tier: empty" in bad.output and "row 5, column resolved_at" in bad.output
    assert "before created_at" in bad.output
    assert "row 5, column closing_feedback: '很满意' is not one of satisfied, mostly, not" in bad.output
    columns = len(rows[0])
    short = tmp_path / "short.csv"
    short.write_text(",".join(rows[0]) + "\n" + ",".join(rows[0].values())[:40] + "\n", encoding="utf-8")
    cut = runner.invoke(app, ["report", "--month", "2026-11", "--out", str(out), "--data", str(short)])
    assert cut.exit_code == 1 and "row 2: fewer fields than the header has columns (" in cut.output, cut.output
    assert f"of {columns})" in cut.output
    (tmp_path / "blank.csv").write_text("", encoding="utf-8")
    blank = runner.invoke(
        app, ["report", "--month", "2026-11", "--out", str(out), "--data", str(tmp_path / "blank.csv")]
    )
    assert blank.exit_code == 1 and "empty file, no header row" in blank.output
    # The disk fills up while the figures are saved: the folder keeps last month's report alone.
    saved = []

    def savefig_until_full(figure: Figure, *args: Any, **kwargs: Any) -> None:
        if saved:
            raise OSError(errno.ENOSPC, "No space left on device")
        saved.append(original_savefig(figure, *args, **kwargs))

    original_savefig = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", savefig_until_full)
    full = runner.invoke(app, ["report", "--month", "2026-11", "--out", str(out), "--data", str(tmp_path / "all.csv")])
    assert full.exit_code == 1 and "No space left" in full.output and saved
    assert [path.name for path in out.iterdir()] == ["report.md"]
    assert (out / "report.md").read_text(encoding="utf-8") == "last month's"


def test_a_report_on_an_export_that_is_not_utf8_names_the_file_and_line(tmp_path: Path) -> None:
    raw = (Path(__file__).resolve().parents[2] / "data" / "sample_export.csv").read_bytes()
    lines = raw.split(b"\n")
    lines[56] = lines[56].replace(b",", b",\xff", 1)  # one byte that is no UTF-8, on the file's line 57
    bad_byte = tmp_path / "bad_byte.csv"
    bad_byte.write_bytes(b"\n".join(lines))
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes(raw.decode("utf-8").encode("gbk", errors="replace"))  # re-saved by Excel on Windows
    for data, line in ((bad_byte, 57), (gbk, 2)):
        out = tmp_path / f"report-{data.stem}"
        result = runner.invoke(app, ["report", "--month", "2026-10", "--out", str(out), "--data", str(data)])
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
        (message,) = result.output.strip().splitlines()  # one line, no traceback
        assert f"{data}: not valid UTF-8 at line {line}" in message
        assert "the file must be UTF-8: save it as CSV UTF-8" in message
        assert ("looks GBK-encoded" in message) == (data == gbk)
        assert not out.exists()


@pytest.mark.parametrize(
    ("arguments", "code", "message"),
    [
        (["report", "--month", "2026-13", "--out", "x"], 1, "expected YYYY-MM"),
        (["report", "--month", "9999-12", "--out", "x"], 1, "expected YYYY-MM"),
        (["report", "--month", "2026-1", "--out", "x"], 1, "expected YYYY-MM"),
        (["report", "--month", "", "--out", "x"], 1, "expected YYYY-MM"),
        # a year in full-width digits (a Chinese input method) is no month of the export's created_at
        (["report", "--month", "２０２６-10", "--out", "x"], 1, "expected YYYY-MM"),
        (
            ["report", "--month", "2026-11", "--out", "x", "--data", "missing.csv"],
            1,
            "missing.csv: cannot read the file",
        ),
        (["export", "--since", "2026-11-24", "--until", "2026-11-23", "--out", "x.csv"], 1, "is after --until"),
        (["export", "--since", "23/11/2026", "--until", "2026-11-23", "--out", "x.csv"], 2, "--since"),
        (["export", "--since", "2026-11-23", "--until", "9999-12-31", "--out", "x.csv"], 1, "--until 9999-12-31"),
    ],
)
def test_bad_arguments_are_clear_errors(tmp_path: Path, arguments: list[str], code: int, message: str) -> None:
    result = runner.invoke(app, arguments, env={"DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}"})
    assert result.exit_code == code, result.output
    assert message in result.output


def test_a_database_without_the_schema_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.db").touch()
    result = _export(f"sqlite:///{tmp_path / 'empty.db'}", tmp_path / "out.csv")
    assert result.exit_code == 1 and "alembic" in result.output and not (tmp_path / "out.csv").exists()


def test_a_database_that_cannot_be_used_is_one_clear_error_and_nothing_is_created(tmp_path: Path) -> None:
    a_csv = tmp_path / "tickets.csv"
    a_csv.write_text("ticket_no,text\n", encoding="utf-8")
    cases = [
        ("not a url", "is not a database URL"),
        ("postgresql+psycopg://postgres@127.0.0.1:9/test?connect_timeout=2", "cannot be used"),
        (f"sqlite:///{a_csv}", "file is not a database"),
        (f"sqlite:///{tmp_path / 'typo' / 'triage.db'}", "no SQLite database at"),
        ("postgresql+asyncpg://postgres@127.0.0.1/test", "is not installed"),
        ("postgresql://u@h:abc/db", "is not a database URL"),
    ]
    for url, message in cases:
        result = _export(url, tmp_path / "out.csv")
        assert result.exit_code == 1 and message in result.output, (url, result.output)
        assert isinstance(result.exception, SystemExit)  # a clear exit, not an escaped exception
    assert sorted(path.name for path in tmp_path.iterdir()) == ["tickets.csv"]


def test_serve_is_a_command_of_triage() -> None:
    result = runner.invoke(app, ["serve", "--help"])
    assert result.exit_code == 0 and "--workers" in result.output
    assert {"train", "compare", "promote", "rollback", "export", "report"} <= {
        command.name or "" for command in app.registered_commands
    }


def test_a_report_of_an_export_made_without_all_warns_that_it_counts_the_reviewed_tickets_only(
    tickets: dict[str, dict[str, Any]], database_url: str, tmp_path: Path
) -> None:
    # the unreviewed ticket is not in an export made without --all: the report counted 2 tickets of
    # the 3 of November, and said nothing
    assert _export(database_url, tmp_path / "reviewed.csv").exit_code == 0
    made = runner.invoke(
        app, ["report", "--month", "2026-11", "--out", str(tmp_path / "r"), "--data", str(tmp_path / "reviewed.csv")]
    )
    assert made.exit_code == 0, made.output
    said = " ".join(made.output.split())
    warning = (
        f"every ticket of 2026-11 in the export {tmp_path / 'reviewed.csv'} (2) was reviewed by an agent, as in an "
        "export made without --all, which leaves out the tickets nobody reviewed: the figures may cover the "
        "reviewed tickets only (triage export --all exports every ticket)"
    )
    assert f"warning: {warning}" in said
    assert f"**Warning:** {warning}." in (tmp_path / "r" / "report.md").read_text(encoding="utf-8")
    # an export of every ticket, and the database, have the unreviewed ones: no warning
    assert _export(database_url, tmp_path / "all.csv", "--all").exit_code == 0
    for source in (["--data", str(tmp_path / "all.csv")], ["--database-url", database_url]):
        out = tmp_path / f"report{source[0]}"
        made = runner.invoke(app, ["report", "--month", "2026-11", "--out", str(out), *source])
        assert made.exit_code == 0 and "warning" not in made.output, made.output
        assert "Warning" not in (out / "report.md").read_text(encoding="utf-8")
