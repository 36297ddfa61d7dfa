"""The monthly report notebook and `triage report` run end to end on the project's sample export."""

from __future__ import annotations

import os
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from model.taxonomy import load_taxonomy
from training.monthly import label_names, previous_month, read_export, summarise, write_monthly_report

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "monthly_report.ipynb"
SAMPLE_EXPORT = ROOT / "data" / "sample_export.csv"


def _execute(monkeypatch: pytest.MonkeyPatch, cwd: Path) -> tuple[Any, CellExecutionError | None]:
    """The notebook run in a kernel started in `cwd`, importing this checkout's code; and the error
    that stopped it, if one did."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = NotebookClient(notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(cwd)}})
    try:
        client.execute()
    except CellExecutionError as error:
        return notebook, error
    return notebook, None


def _outputs(notebook: Any) -> list[Any]:
    return [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]


def test_the_notebook_executes_from_any_folder_and_draws_its_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = read_export(SAMPLE_EXPORT)
    month = max(row["created_at"][:7] for row in rows)
    monkeypatch.delenv("TRIAGE_EXPORT", raising=False)  # the default: the project's sample export
    monkeypatch.delenv("TRIAGE_MONTH", raising=False)  # the default: its latest month
    notebook, error = _execute(monkeypatch, tmp_path)  # a folder outside the project
    assert error is None, error
    outputs = _outputs(notebook)
    images = [output for output in outputs if "image/png" in output.get("data", {})]
    assert len(images) == 3
    text = "".join(output.get("text", "") for output in outputs)
    assert f"{len(rows)} tickets in {SAMPLE_EXPORT.name}" in text and f"in {month}" in text
    figures = "".join(output.get("data", {}).get("text/markdown", "") for output in outputs)
    rate = summarise([row for row in rows if row["created_at"].startswith(month)])["deadline_escalation_rate"]
    assert f"| deadline_escalation_rate | {rate} |" in figures and "| deadline_escalations: resolution |" in figures
    # the escalations to the department head too, as `triage report` gives them
    escalations = summarise([row for row in rows if row["created_at"].startswith(month)])["deadline_escalations"]
    for kind, counts in escalations.items():
        assert f"| deadline_escalations_to_head: {kind} | {counts['head_escalated']} |" in figures
    # the month before beside it, as in the report
    before, now = ([row for row in rows if row["created_at"].startswith(m)] for m in (previous_month(month), month))
    assert f"| tickets | {len(before)} | {len(now)} |" in figures


def test_the_notebook_on_a_gbk_export_shows_the_error_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes(SAMPLE_EXPORT.read_text(encoding="utf-8").encode("gbk", errors="replace"))
    monkeypatch.setenv("TRIAGE_EXPORT", str(gbk))
    notebook, error = _execute(monkeypatch, NOTEBOOK.parent)
    assert error is not None  # the run stops at the cell that reads the export
    (failure,) = [output for output in _outputs(notebook) if output.get("output_type") == "error"]
    (line,) = failure["traceback"]  # the message alone, no traceback
    assert line.startswith(f"error: {gbk}: not valid UTF-8 at line 2") and "the file must be UTF-8" in line
    assert line == f"error: {read_error(gbk)}"  # what `triage report --data` says


def test_report_command_figures_agree_with_counts_from_the_file(tmp_path: Path) -> None:
    rows = read_export(SAMPLE_EXPORT)
    month = max(row["created_at"][:7] for row in rows)
    path = write_monthly_report(rows, month, tmp_path)
    assert {p.name for p in tmp_path.glob("*.png")} == {
        "weekly_volume.png",
        "suggested_vs_final_subtype.png",
        "sla_and_csat.png",
    }
    month_rows = [row for row in rows if row["created_at"].startswith(month)]
    summary = summarise(month_rows)
    assert summary["tickets"] == len(month_rows)
    reviewed = [row for row in month_rows if row["reviewed"] == "true"]
    agree = sum(row["subtype"] == row["suggested_subtype"] for row in reviewed)
    assert summary["live_accuracy"]["subtype"] == round(agree / len(reviewed), 3)
    # the auto-filled tickets an agent checked anyway: the estimate for those nobody reviews
    checked = [row for row in reviewed if row["needs_review"] == "false"]
    kept = sum(row["subtype"] == row["suggested_subtype"] for row in checked)
    assert 0 < len(checked) < len(reviewed) and summary["spot_checked"] == len(checked)
    assert summary["spot_check_accuracy"]["subtype"] == round(kept / len(checked), 3)
    report = path.read_text(encoding="utf-8")
    rate = 100 * round(kept / len(checked), 3)
    line = f"| suggestion = final on auto-filled tickets checked anyway ({len(checked)}), subtype | {rate:.1f} % |"
    assert line in report
    assert f"{len(month_rows)} tickets" in report
    top_subtype, count = Counter(row["subtype"] for row in month_rows).most_common(1)[0]
    names = label_names(load_taxonomy())  # the report names the codes as the business does: 技术部 (tech)
    # the volume by subtype, most frequent first
    assert f"- subtype: {names['subtype'][top_subtype]} ({top_subtype}) {count}, " in report
    for tier in ("P1", "P2", "P3"):
        decided = [row["first_response_sla"] for row in month_rows if row["tier"] == tier]
        decided = [state for state in decided if state in ("met", "breached")]
        rate = decided.count("breached") / len(decided)
        assert summary["first_response_sla_breach_rate"][tier] == round(rate, 3)
        tier_named = f"{names['tier'][tier]} ({tier})"
        assert f"| first response SLA breached, {tier_named} | {100 * round(rate, 3):.1f} % |" in report
    closed = [row for row in month_rows if row["status"] == "closed"]
    coverage = sum(bool(row["survey_overall"]) for row in closed) / len(closed)
    assert summary["survey_coverage"] == round(coverage, 3) and 0 < coverage < 1
    # 闭环确认率: closures the customer confirmed (满意 or 基本满意), of the closed tickets, per department too
    confirmed = [row["closing_feedback"] in ("satisfied", "mostly") for row in closed]
    assert all(row["closing_feedback"] for row in closed)
    rate = round(sum(confirmed) / len(confirmed), 3)
    assert summary["closure_confirmation_rate"] == rate and 0 < rate < 1
    assert f"| closures the customer confirmed (满意 or 基本满意) | {100 * rate:.1f} % |" in report
    for department, share in summary["closure_confirmation_by_department"].items():
        mine = [row["closing_feedback"] != "not" for row in closed if row["department"] == department]
        assert share == round(sum(mine) / len(mine), 3)
        named = f"{names['department'][department]} ({department})"
        assert f"| closures confirmed, {named} | {100 * share:.1f} % |" in report
    assert set(summary["closure_confirmation_by_department"]) == {row["department"] for row in closed}
    # 时限升级率: tickets with a deadline escalated to the supervisor, of the month's tickets, per tier
    # and department; per deadline, those escalated and those already passed when escalated (the sweep's
    # verdict), and those escalated to the department head (passed unmet)
    escalated = [bool(row["first_response_escalated_at"] or row["resolution_escalated_at"]) for row in month_rows]
    rate = round(sum(escalated) / len(escalated), 3)
    assert summary["deadline_escalation_rate"] == rate and 0 < rate < 1
    assert f"| tickets escalated on a deadline (时限升级) | {100 * rate:.1f} % |" in report
    for column in ("tier", "department"):
        for value, share in summary[f"deadline_escalation_by_{column}"].items():
            mine = [flag for row, flag in zip(month_rows, escalated) if row[column] == value]
            assert share == round(sum(mine) / len(mine), 3)
            named = f"{names[column][value]} ({value})"
            assert f"| escalated on a deadline, {named} | {100 * share:.1f} % |" in report
        assert set(summary[f"deadline_escalation_by_{column}"]) == {row[column] for row in month_rows}
    for kind, name in (("first_response", "first response (首次响应)"), ("resolution", "resolution (解决)")):
        verdicts = [row[f"{kind}_escalated_passed"] for row in month_rows if row[f"{kind}_escalated_at"]]
        assert set(verdicts) <= {"true", "false"}
        passed = verdicts.count("true")
        heads = [row for row in month_rows if row[f"{kind}_head_escalated_at"]]
        assert all(row[f"{kind}_escalated_at"] <= row[f"{kind}_head_escalated_at"] for row in heads)
        assert summary["deadline_escalations"][kind] == {
            "escalated": len(verdicts),
            "passed": passed,
            "head_escalated": len(heads),
        }
        assert f"| deadlines escalated, {name} | {len(verdicts)} ({passed} already passed) |" in report
        assert f"| deadlines escalated to the department head (部门负责人), {name} | {len(heads)} |" in report
        assert passed <= len(heads) < len(verdicts)  # those found passed, and some that passed later
    assert summary["deadline_escalations"]["first_response"]["passed"] > 0  # the sample sweeps quarter-hourly
    assert os.path.getsize(tmp_path / "weekly_volume.png") > 1000


def test_a_month_without_reviewed_tickets_still_gets_its_report(tmp_path: Path) -> None:
    rows = [{**row, "reviewed": "false"} for row in read_export(SAMPLE_EXPORT)]
    month = max(row["created_at"][:7] for row in rows)
    path = write_monthly_report(rows, month, tmp_path)
    assert "0 reviewed" in path.read_text(encoding="utf-8")
    assert os.path.getsize(tmp_path / "suggested_vs_final_subtype.png") > 1000  # a figure saying so


def test_a_mean_of_zero_hours_is_shown_as_zero_not_as_missing(tmp_path: Path) -> None:
    rows = read_export(SAMPLE_EXPORT)
    month = max(row["created_at"][:7] for row in rows)
    answered = [{**row, "first_response_at": row["created_at"]} for row in rows]  # answered at once
    report = write_monthly_report(answered, month, tmp_path).read_text(encoding="utf-8")
    assert "| mean first response | 0.0 h |" in report
    unanswered = [{**row, "first_response_at": ""} for row in rows]
    report = write_monthly_report(unanswered, month, tmp_path / "none").read_text(encoding="utf-8")
    assert "| mean first response | – |" in report


def read_error(path: Path) -> str:
    """The message of read_export's error on `path`."""
    with pytest.raises(ValueError) as raised:
        read_export(path)
    return str(raised.value)


def test_the_sample_export_tells_a_possible_story_in_time() -> None:
    # made by notebooks/make_sample_export.py, whose clock once went back after a review: first
    # responses before the review, deadlines escalated after they were met
    rows = read_export(SAMPLE_EXPORT)
    done = {"first_response": "first_response_at", "resolution": "resolved_at"}
    for row in rows:
        steps = [row["created_at"], row["reviewed_at"] if row["reviewed"] == "true" else "", row["first_response_at"]]
        times = [datetime.fromisoformat(step) for step in steps if step]
        assert times == sorted(times), row["ticket_no"]
        for kind, column in done.items():
            for stamp in (row[f"{kind}_escalated_at"], row[f"{kind}_head_escalated_at"]):
                if stamp and row[column]:
                    assert datetime.fromisoformat(stamp) <= datetime.fromisoformat(row[column]), row["ticket_no"]


def test_the_report_compares_the_headline_figures_with_the_month_before(tmp_path: Path) -> None:
    rows = read_export(SAMPLE_EXPORT)
    months = sorted({row["created_at"][:7] for row in rows})
    assert previous_month("2026-01") == "2025-12" and previous_month("2026-10") == "2026-09"
    first, last = months[0], months[-1]
    report = write_monthly_report(rows, last, tmp_path / "last").read_text(encoding="utf-8")
    before, now = ([row for row in rows if row["created_at"].startswith(m)] for m in (previous_month(last), last))
    assert f"## Compared with {previous_month(last)}" in report
    assert f"| tickets | {len(before)} | {len(now)} |" in report
    p1 = [sum(row["tier"] == "P1" for row in group) for group in (before, now)]
    assert f"| tickets of tier 一级（紧急） (P1) | {p1[0]} | {p1[1]} |" in report
    confirmed = [summarise(group)["closure_confirmation_rate"] for group in (before, now)]
    assert f"| closures the customer confirmed | {100 * confirmed[0]:.1f} % | {100 * confirmed[1]:.1f} % |" in report
    # the export's first month: nothing before it to compare with, said so
    opening = write_monthly_report(rows, first, tmp_path / "first").read_text(encoding="utf-8")
    assert f"The export holds no ticket created in {previous_month(first)}." in opening
