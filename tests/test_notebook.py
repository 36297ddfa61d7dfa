"""The monthly report notebook and `triage report` run end to end on the project's sample export."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from training.monthly import read_export, summarise, write_monthly_report

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "notebooks" / "monthly_report.ipynb"
SAMPLE_EXPORT = ROOT / "data" / "sample_export.csv"


def test_the_notebook_executes_and_draws_its_figures(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    rows = read_export(SAMPLE_EXPORT)
    month = max(row["created_at"][:7] for row in rows)
    monkeypatch.setenv("TRIAGE_EXPORT", str(SAMPLE_EXPORT))
    monkeypatch.setenv("TRIAGE_MONTH", month)
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    ).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.get("outputs", [])]
    assert not [output for output in outputs if output.get("output_type") == "error"]
    images = [output for output in outputs if "image/png" in output.get("data", {})]
    assert len(images) == 3
    text = "".join(output.get("text", "") for output in outputs)
    assert f"in {month}" in text


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
    report = path.read_text(encoding="utf-8")
    assert f"{len(month_rows)} tickets" in report
    for tier in ("P1", "P2", "P3"):
        decided = [row["first_response_sla"] for row in month_rows if row["tier"] == tier]
        decided = [state for state in decided if state in ("met", "breached")]
        rate = decided.count("breached") / len(decided)
        assert summary["first_response_sla_breach_rate"][tier] == round(rate, 3)
        assert f"| first response SLA breached, {tier} | {100 * round(rate, 3):.1f} % |" in report
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
        assert f"| closures confirmed, {department} | {100 * share:.1f} % |" in report
    assert set(summary["closure_confirmation_by_department"]) == {row["department"] for row in closed}
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
