"""The monthly report: the weekly volume (ISO weeks cut to the month, compared per day) and the
deadline escalation rate on a small export written here."""

from __future__ import annotations

import csv
import dataclasses
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest

from model.taxonomy import load_taxonomy
from training import report as charts
from training.monthly import (
    ESCALATION_COLUMNS,
    EXPORT_COLUMNS,
    HEAD_COLUMNS,
    PASSED_COLUMNS,
    SAMPLE_EXPORT,
    URGENT_HEAD_COLUMNS,
    ExportError,
    read_export,
    sla_and_csat_figure,
    summarise,
    write_monthly_report,
)
from training.weekly import month_weeks, weekly_figure


def _row(created_at: str, category: str) -> dict[str, str]:
    return {"created_at": created_at, "category": category}


# October 2026 begins on a Thursday and ends on a Saturday: its first ISO week (W40) has 4 of its
# days in October, its last (W44) 6.
OCTOBER = [
    *[_row(f"2026-10-0{day}T09:00:00+08:00", "logistics") for day in (1, 2, 3, 4) for _ in range(2)],  # 8 in 4 days
    *[_row("2026-10-06T10:00:00+08:00", "logistics") for _ in range(14)],  # 14 in a full week
    _row("2026-10-31T23:59:00+08:00", "service"),
    _row("2026-11-01T00:10:00+08:00", "service"),  # W44 too, but November: not counted
    _row("2026-09-30T18:00:00+08:00", "service"),  # W40 too, but September: not counted
]


def _problems(path: Path) -> list[str]:
    """The lines of the ExportError that reading the export at `path` raises (asserting it raises one)."""
    with pytest.raises(ExportError) as raised:
        read_export(path)
    return str(raised.value).splitlines()


def test_the_weeks_of_a_month_are_cut_to_its_days_and_compared_per_day() -> None:
    weeks = month_weeks(OCTOBER, "2026-10")
    assert [(week.label, week.days, week.partial) for week in weeks] == [
        ("2026-W40 10-01..10-04 (4 of 7 days)", 4, True),
        ("2026-W41 10-05..10-11", 7, False),
        ("2026-W42 10-12..10-18", 7, False),
        ("2026-W43 10-19..10-25", 7, False),
        ("2026-W44 10-26..10-31 (6 of 7 days)", 6, True),
    ]
    assert [week.counts for week in weeks] == [{"logistics": 8}, {"logistics": 14}, {}, {}, {"service": 1}]
    # 8 tickets in the 4 October days of W40 are as many a day as 14 in the 7 days of W41
    assert [week.per_day("logistics") for week in weeks] == [2.0, 2.0, 0.0, 0.0, 0.0]
    assert weeks[-1].per_day("service") == 1 / 6


def test_the_weekly_chart_plots_tickets_per_day_and_labels_partial_weeks() -> None:
    figure = weekly_figure(month_weeks(OCTOBER, "2026-10"))
    (axes,) = figure.axes
    lines = {line.get_label(): list(line.get_ydata()) for line in axes.get_lines()}
    assert lines == {"logistics": [2.0, 2.0, 0.0, 0.0, 0.0], "service": [0.0, 0.0, 0.0, 0.0, 1 / 6]}
    labels = [label.get_text() for label in axes.get_xticklabels()]
    assert labels[0] == "2026-W40\n10-01..10-04\n(4 of 7 days)" and labels[1] == "2026-W41\n10-05..10-11"
    assert "per day" in axes.get_ylabel()
    assert len(axes.patches) == 2  # the two partial weeks shaded


def test_the_weekly_charts_legend_covers_no_point(tmp_path: Path) -> None:
    # September of the sample export: the legend, placed inside the axes where it fitted best, hid
    # the point of `other` in the last week (2026-W40)
    rows = read_export(SAMPLE_EXPORT)
    for month in sorted({row["created_at"][:7] for row in rows}):
        figure = weekly_figure(month_weeks(rows, month))
        figure.draw_without_rendering()
        (axes,) = figure.axes
        legend = axes.get_legend()
        assert legend is not None
        box = legend.get_window_extent()
        for line in axes.get_lines():
            margin = line.get_markersize() * figure.dpi / 72  # the marker's diameter, in pixels
            for x, y in axes.transData.transform(line.get_xydata()):
                covered = box.x0 - margin < x < box.x1 + margin and box.y0 - margin < y < box.y1 + margin
                assert not covered, f"{month}: the legend covers {line.get_label()} at ({x:.0f}, {y:.0f})"


def test_the_report_says_how_the_weekly_chart_counts(tmp_path: Path) -> None:
    rows = read_export(SAMPLE_EXPORT)
    report = write_monthly_report(rows, "2026-10", tmp_path).read_text(encoding="utf-8")
    assert "mean number of tickets per day" in report
    assert "2026-W40 (10-01..10-04, 4 of 7 days) and 2026-W44 (10-26..10-31, 6 of 7 days)" in report


def test_the_report_gives_each_target_as_the_practice_sets_it(tmp_path: Path) -> None:
    # practice document 000: 回访覆盖率达100%, a floor; 同类问题重复投诉率下降至10%以内, a ceiling
    report = write_monthly_report(read_export(SAMPLE_EXPORT), "2026-10", tmp_path).read_text(encoding="utf-8")
    assert "| repeat-complaint rate (target: at most 10 %) | 1.9 % |" in report
    assert "| survey coverage of closed tickets (target 100 %) | 70.1 % |" in report


def _ticket(number: int, tier: str, department: str, **times: str) -> dict[str, str]:
    """An exported ticket of 2026-10-08 09:00 whose deadlines are due at 10:00 and 2026-10-09 09:00."""
    return {
        **dict.fromkeys(EXPORT_COLUMNS, ""),
        "ticket_no": f"TS-20261008-{number:06d}",
        "created_at": "2026-10-08T09:00:00+08:00",
        "channel": "phone",
        "status": "in_progress",
        "category": "service",
        "subtype": "attitude",
        "tier": tier,
        "demand": "apology",
        "suggested_category": "service",
        "suggested_subtype": "attitude",
        "suggested_tier": tier,
        "suggested_demand": "apology",
        "department": department,
        "reviewed": "false",
        "needs_review": "false",
        "first_response_due": "2026-10-08T10:00:00+08:00",
        "resolution_due": "2026-10-09T09:00:00+08:00",
        "first_response_sla": "pending",
        "resolution_sla": "pending",
        "emotion_index": "12",
        **times,
    }


def _escalated(kind: str, at: str, passed: bool) -> dict[str, str]:
    """The columns of a deadline the sweep escalated at `at`, already passed or not (its verdict)."""
    return {f"{kind}_escalated_at": at, f"{kind}_escalated_passed": "true" if passed else "false"}


ESCALATED = [
    _ticket(1, "P1", "tech", **_escalated("first_response", "2026-10-08T09:50:00+08:00", False)),  # near
    _ticket(
        2,
        "P1",
        "cs",
        **_escalated("first_response", "2026-10-08T10:05:00+08:00", True),  # passed
        **_escalated("resolution", "2026-10-09T09:00:01+08:00", True),  # passed, by a second
        # found passed: to the department head in the same sweep
        first_response_head_escalated_at="2026-10-08T10:05:00+08:00",
        resolution_head_escalated_at="2026-10-09T09:00:01+08:00",
    ),
    # at the due time: not passed
    _ticket(3, "P2", "tech", **_escalated("resolution", "2026-10-09T09:00:00+08:00", False)),
    # escalated near, then to the head once passed unmet
    _ticket(
        4,
        "P2",
        "cs",
        **_escalated("first_response", "2026-10-08T09:50:00+08:00", False),
        first_response_head_escalated_at="2026-10-08T10:15:00+08:00",
    ),
    _ticket(5, "P3", "tech"),
    # November: not in October's figures
    {
        **_ticket(6, "P3", "cs", **_escalated("first_response", "2026-11-01T10:05:00+08:00", True)),
        "created_at": "2026-11-01T09:00:00+08:00",
    },
]
# Escalated at 09:50 while near (due at 10:00), then re-tiered: due at 09:40 now; and escalated at
# 10:05 once passed, then re-tiered: due at 11:00 now.
RE_TIERED = [
    _ticket(
        7,
        "P1",
        "tech",
        first_response_due="2026-10-08T09:40:00+08:00",
        **_escalated("first_response", "2026-10-08T09:50:00+08:00", False),
    ),
    _ticket(
        8,
        "P3",
        "cs",
        first_response_due="2026-10-08T11:00:00+08:00",
        **_escalated("first_response", "2026-10-08T10:05:00+08:00", True),
    ),
]
# an export of the release before the verdicts, which had no escalations to the head either
UNJUDGED = tuple(column for column in EXPORT_COLUMNS if column not in (*PASSED_COLUMNS, *HEAD_COLUMNS))


def _write(path: Path, rows: list[dict[str, str]], columns: tuple[str, ...] = EXPORT_COLUMNS) -> Path:
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


def test_the_report_gives_the_deadline_escalation_rate_per_tier_department_and_deadline(tmp_path: Path) -> None:
    rows = read_export(_write(tmp_path / "export.csv", ESCALATED))
    summary = summarise(rows[:5])
    assert summary["deadline_escalation_rate"] == 0.8  # tickets 1, 2, 3 and 4 of 5
    assert summary["deadline_escalation_by_tier"] == {"P1": 1.0, "P2": 1.0, "P3": 0.0}
    assert summary["deadline_escalation_by_department"] == {"cs": 1.0, "tech": 0.667}
    assert summary["deadline_escalations"] == {
        "first_response": {"escalated": 3, "passed": 1, "head_escalated": 2},
        "resolution": {"escalated": 2, "passed": 1, "head_escalated": 1},
    }
    report = write_monthly_report(rows, "2026-10", tmp_path / "report").read_text(encoding="utf-8")
    assert "5 tickets;" in report
    for line in (
        "| tickets escalated on a deadline (时限升级) | 80.0 % |",
        "| escalated on a deadline, 一级（紧急） (P1) | 100.0 % |",
        "| escalated on a deadline, 三级（一般） (P3) | 0.0 % |",
        "| escalated on a deadline, 技术部 (tech) | 66.7 % |",
        "| deadlines escalated, first response (首次响应) | 3 (1 already passed) |",
        "| deadlines escalated, resolution (解决) | 2 (1 already passed) |",
        "| deadlines escalated to the department head (部门负责人), first response (首次响应) | 2 |",
        "| deadlines escalated to the department head (部门负责人), resolution (解决) | 1 |",
    ):
        assert line in report


def test_the_report_counts_urgent_tickets_escalated_to_the_head_apart_from_deadline_escalations(tmp_path: Path) -> None:
    urgent = "2026-10-08T09:00:00+08:00"
    october = [
        _ticket(1, "P1", "tech", head_escalated_at=urgent),
        _ticket(
            2,
            "P1",
            "tech",
            head_escalated_at=urgent,
            **_escalated("first_response", "2026-10-08T09:50:00+08:00", False),
        ),
        _ticket(3, "P2", "cs"),
    ]
    september = [
        {
            **_ticket(4, "P1", "tech", head_escalated_at="2026-09-30T09:00:00+08:00"),
            "created_at": "2026-09-30T09:00:00+08:00",
        }
    ]
    rows = read_export(_write(tmp_path / "export.csv", [*october, *september]))
    summary = summarise(rows[:3])
    assert summary["urgent_head_escalations"] == 2
    assert summary["deadline_escalation_rate"] == 0.333  # only ticket 2's deadline, not the urgent escalations
    report = write_monthly_report(rows, "2026-10", tmp_path / "report").read_text(encoding="utf-8")
    assert "| urgent tickets escalated to the department head at once (紧急升级) | 2 |" in report
    assert "| urgent tickets escalated to the department head at once | 1 | 2 |" in report  # September, October
    # an export made before the column: unavailable, not 0
    before = tuple(column for column in EXPORT_COLUMNS if column not in URGENT_HEAD_COLUMNS)
    older = read_export(_write(tmp_path / "before.csv", october, before))
    assert summarise(older)["urgent_head_escalations"] is None
    report = write_monthly_report(older, "2026-10", tmp_path / "older").read_text(encoding="utf-8")
    assert "| urgent tickets escalated to the department head at once (紧急升级) | – |" in report


def test_an_export_without_the_head_columns_has_the_head_figures_unavailable_rather_than_zero(tmp_path: Path) -> None:
    before = tuple(column for column in EXPORT_COLUMNS if column not in HEAD_COLUMNS)
    rows = read_export(_write(tmp_path / "before.csv", ESCALATED, before))
    assert not any(column in row for row in rows for column in HEAD_COLUMNS)
    summary = summarise(rows[:5])
    assert summary["deadline_escalations"] == {
        "first_response": {"escalated": 3, "passed": 1, "head_escalated": None},
        "resolution": {"escalated": 2, "passed": 1, "head_escalated": None},
    }
    figures = summarise(read_export(_write(tmp_path / "export.csv", ESCALATED))[:5])
    assert {key: value for key, value in summary.items() if key != "deadline_escalations"} == {
        key: value for key, value in figures.items() if key != "deadline_escalations"
    }
    report = write_monthly_report(rows, "2026-10", tmp_path / "report").read_text(encoding="utf-8")
    assert "| deadlines escalated to the department head (部门负责人), first response (首次响应) | – |" in report
    assert "| deadlines escalated, first response (首次响应) | 3 (1 already passed) |" in report
    # none escalated to the head in a file with the columns: 0, not unavailable
    none = read_export(_write(tmp_path / "none.csv", [_ticket(1, "P1", "tech")]))
    assert summarise(none)["deadline_escalations"]["resolution"] == {"escalated": 0, "passed": 0, "head_escalated": 0}


def test_escalations_to_the_head_the_report_cannot_use_are_named(tmp_path: Path) -> None:
    near = _escalated("first_response", "2026-10-08T09:50:00+08:00", False)
    rows = [
        _ticket(1, "P1", "tech", **near, first_response_head_escalated_at="2026-10-08 10:15"),
        _ticket(2, "P1", "tech", **near, first_response_head_escalated_at="2026-10-08T08:00:00+08:00"),
        _ticket(3, "P1", "tech", resolution_head_escalated_at="2026-10-09T10:00:00+08:00"),
        _ticket(4, "P1", "tech", **near, first_response_head_escalated_at="2026-10-08T09:45:00+08:00"),
        _ticket(5, "P1", "tech", **near, first_response_head_escalated_at="2026-10-08T10:15:00+08:00"),  # good
    ]
    path = _write(tmp_path / "heads.csv", rows)
    assert _problems(path) == [
        f"{path}, row 2, column first_response_head_escalated_at: '2026-10-08 10:15' has no UTC offset "
        "(exports write one)",
        f"{path}, row 3, column first_response_head_escalated_at: '2026-10-08T08:00:00+08:00' is before created_at",
        f"{path}, row 3, column first_response_head_escalated_at: '2026-10-08T08:00:00+08:00' is before "
        "first_response_escalated_at",
        f"{path}, row 4, column resolution_head_escalated_at: '2026-10-09T10:00:00+08:00' without "
        "resolution_escalated_at: the head comes after the supervisor",
        f"{path}, row 5, column first_response_head_escalated_at: '2026-10-08T09:45:00+08:00' is before "
        "first_response_escalated_at",
    ]


def test_passed_is_the_sweeps_verdict_and_from_the_times_only_in_an_export_without_it(tmp_path: Path) -> None:
    def passed(rows: list[dict[str, str]]) -> int:
        count: int = summarise(rows)["deadline_escalations"]["first_response"]["passed"]
        return count

    judged = read_export(_write(tmp_path / "export.csv", RE_TIERED))
    assert [passed([row]) for row in judged] == [0, 1]  # the verdicts, whatever the due times say now
    report = write_monthly_report(judged[:1], "2026-10", tmp_path / "report").read_text(encoding="utf-8")
    assert "| deadlines escalated, first response (首次响应) | 1 (0 already passed) |" in report
    # an export of the release before the verdicts: escalated after the due time it gives, to the second
    unjudged = read_export(_write(tmp_path / "unjudged.csv", RE_TIERED, UNJUDGED))
    assert not any(column in row for row in unjudged for column in PASSED_COLUMNS)
    assert [passed([row]) for row in unjudged] == [1, 0]
    older = read_export(_write(tmp_path / "older.csv", ESCALATED, UNJUDGED))
    assert summarise(older[:5])["deadline_escalations"] == {
        "first_response": {"escalated": 3, "passed": 1, "head_escalated": None},  # 10:05 after 10:00
        "resolution": {"escalated": 2, "passed": 1, "head_escalated": None},  # a second after, and at the due time
    }


def test_an_export_without_the_escalation_columns_has_no_escalation_figures_rather_than_zero(
    tmp_path: Path,
) -> None:
    older = tuple(column for column in UNJUDGED if column not in ESCALATION_COLUMNS)
    rows = read_export(_write(tmp_path / "older.csv", ESCALATED, older))
    assert not any(column in row for row in rows for column in (*ESCALATION_COLUMNS, *PASSED_COLUMNS))
    summary = summarise(rows[:5])
    assert (
        summary["deadline_escalation_rate"],
        summary["deadline_escalation_by_tier"],
        summary["deadline_escalation_by_department"],
        summary["deadline_escalations"],
    ) == (None, {}, {}, {})
    figures = summarise(read_export(_write(tmp_path / "export.csv", ESCALATED))[:5])
    assert {key: value for key, value in summary.items() if not key.startswith("deadline_escalation")} == {
        key: value for key, value in figures.items() if not key.startswith("deadline_escalation")
    }
    report = write_monthly_report(rows, "2026-10", tmp_path / "report").read_text(encoding="utf-8")
    assert "| tickets escalated on a deadline (时限升级) | – |" in report
    assert "escalated on a deadline, " not in report and "deadlines escalated" not in report
    # an export whose tickets were not escalated has a rate of zero
    none = read_export(_write(tmp_path / "none.csv", [_ticket(1, "P1", "tech")]))
    assert summarise(none)["deadline_escalation_rate"] == 0.0


def test_escalation_times_the_report_cannot_use_are_named(tmp_path: Path) -> None:
    rows = [
        _ticket(1, "P1", "tech", **_escalated("first_response", "2026-10-08 09:50", False)),
        _ticket(2, "P1", "tech", **_escalated("resolution", "2026-10-08T08:00:00+08:00", False)),
        _ticket(
            3, "P1", "tech", first_response_due="", **_escalated("first_response", "2026-10-08T09:50:00+08:00", False)
        ),
    ]
    problems = _problems(_write(tmp_path / "broken.csv", rows))
    assert problems == [
        f"{tmp_path / 'broken.csv'}, row 2, column first_response_escalated_at: '2026-10-08 09:50' has no UTC offset "
        "(exports write one)",
        f"{tmp_path / 'broken.csv'}, row 3, column resolution_escalated_at: '2026-10-08T08:00:00+08:00' is before "
        "created_at",
        f"{tmp_path / 'broken.csv'}, row 4, column first_response_due: '': an escalated deadline needs its ISO due "
        "time",
    ]


def test_verdicts_the_report_cannot_use_are_named(tmp_path: Path) -> None:
    at = "2026-10-08T09:50:00+08:00"
    rows = [
        _ticket(1, "P1", "tech", first_response_escalated_at=at, first_response_escalated_passed="yes"),
        _ticket(2, "P1", "tech", resolution_escalated_passed="true"),
        _ticket(3, "P1", "tech", first_response_escalated_at=at),
        _ticket(4, "P1", "tech", first_response_escalated_at=at, first_response_escalated_passed="True"),
    ]
    path = _write(tmp_path / "verdicts.csv", rows)
    assert _problems(path) == [
        f"{path}, row 2, column first_response_escalated_passed: 'yes' is not true, false or empty",
        f"{path}, row 3, column resolution_escalated_passed: 'true' without resolution_escalated_at: only an "
        "escalated deadline has a verdict",
        f"{path}, row 4, column first_response_escalated_passed: empty: the export fills it for an escalated "
        "deadline (first_response_escalated_at)",
        f"{path}, row 5, column first_response_escalated_passed: 'True' is not true, false or empty",
    ]
    # a verdict in a file without the escalation times has nothing it could be the verdict on
    without = tuple(column for column in EXPORT_COLUMNS if column not in ESCALATION_COLUMNS)
    written = _write(tmp_path / "without.csv", [{**rows[0], "first_response_escalated_passed": "false"}], without)
    assert _problems(written) == [
        f"{tmp_path / 'without.csv'}, row 2, column first_response_escalated_passed: 'false' without "
        "first_response_escalated_at: only an escalated deadline has a verdict"
    ]


def test_values_the_export_never_writes_are_named_and_nothing_is_counted(tmp_path: Path) -> None:
    good = _ticket(1, "P1", "tech")
    rows = [
        {**good, "tier": "P9", "department": "nope", "channel": "fax"},
        {**good, "status": "weird", "first_response_sla": "weird", "resolution_sla": "late", "emotion_index": "NaN"},
        {**good, "category": "Product", "subtype": "nope"},
        {**good, "category": "product", "subtype": "late_delivery"},
        {**good, "emotion_index": "101"},
        {**good, "emotion_index": "-1", "status": "", "channel": ""},
        {**good, "emotion_index": "0", "first_response_sla": "breached", "resolution_sla": "met", "status": "closed"},
    ]
    path = _write(tmp_path / "codes.csv", rows)
    assert _problems(path) == [
        f"{path}, row 2, column tier: 'P9' is not a tier of the taxonomy (expected one of P1, P2, P3)",
        f"{path}, row 2, column department: 'nope' is not a department of the taxonomy "
        "(expected one of tech, ops, cs, logistics, after_sales)",
        f"{path}, row 2, column channel: 'fax' is not a channel (expected one of phone, online, email, social, store)",
        f"{path}, row 3, column status: 'weird' is not a ticket status (expected one of received, assigned, "
        "in_progress, customer_contacted, escalated, resolved, closed, reopened)",
        f"{path}, row 3, column first_response_sla: 'weird' is not an SLA state (expected one of met, breached, "
        "pending)",
        f"{path}, row 3, column resolution_sla: 'late' is not an SLA state (expected one of met, breached, pending)",
        f"{path}, row 3, column emotion_index: 'NaN' is not an integer from 0 to 100",
        f"{path}, row 4, column category: 'Product' is not a category of the taxonomy "
        "(expected one of product, service, logistics, after_sales, other)",
        f"{path}, row 4, column subtype: 'nope' is not a subtype of the taxonomy (expected one of malfunction, "
        "poor_quality, cosmetic, safety, not_as_described, attitude, slow_response, unresolved, misinformation, "
        "late_delivery, damaged_package, wrong_missing_item, courier_service, refund_return, repair_warranty, "
        "billing, other)",
        f"{path}, row 5, column subtype: 'late_delivery' is a subtype of logistics, not of product",
        "… and 4 more",
    ]
    # the rest, and the last row alone is read
    assert _problems(_write(tmp_path / "rest.csv", rows[4:])) == [
        f"{tmp_path / 'rest.csv'}, row 2, column emotion_index: '101' is not an integer from 0 to 100",
        f"{tmp_path / 'rest.csv'}, row 3, column channel: empty: the export fills it for every ticket",
        f"{tmp_path / 'rest.csv'}, row 3, column status: empty: the export fills it for every ticket",
        f"{tmp_path / 'rest.csv'}, row 3, column emotion_index: '-1' is not an integer from 0 to 100",
    ]
    assert len(read_export(_write(tmp_path / "fine.csv", rows[6:]))) == 1
    # a column the file has not got is not checked (it reads as empty, as before)
    without = tuple(column for column in EXPORT_COLUMNS if column not in ("status", "emotion_index"))
    assert [row["status"] for row in read_export(_write(tmp_path / "older.csv", [good], without))] == [""]


def test_the_header_row_repeated_in_an_export_is_named_once(tmp_path: Path) -> None:
    # two months' exports pasted into one file: one problem, not one per column of the header
    path = _write(tmp_path / "pasted.csv", [_ticket(1, "P1", "tech"), dict(zip(EXPORT_COLUMNS, EXPORT_COLUMNS))])
    assert _problems(path) == [f"{path}, row 3: the header row again (two files pasted into one?); delete this row"]


def test_a_column_named_twice_in_an_export_is_refused(tmp_path: Path) -> None:
    # the second would silently win over the first, whatever they hold
    path = tmp_path / "twice.csv"
    header, row = ",".join(EXPORT_COLUMNS), ",".join(_ticket(1, "P1", "tech").values())
    path.write_text(f"{header},status\n{row},closed\n", encoding="utf-8")
    assert _problems(path) == [f"{path}, row 1: column(s) status appear more than once"]


def test_the_demand_and_the_models_suggestion_are_checked_like_the_labels(tmp_path: Path) -> None:
    good = _ticket(1, "P2", "cs")
    rows = [
        {**good, "demand": "money", "suggested_demand": ""},
        {**good, "suggested_category": "logistics", "suggested_tier": "P0"},
        {**good, "suggested_category": "service", "suggested_subtype": "late_delivery", "reviewed": "true"},
    ]
    path = _write(tmp_path / "suggested.csv", rows)
    assert _problems(path) == [
        f"{path}, row 2, column suggested_demand: empty: the export fills it for every ticket",
        f"{path}, row 2, column demand: 'money' is not a demand of the taxonomy "
        "(expected one of refund, exchange, repair, compensation, apology, none)",
        f"{path}, row 3, column suggested_tier: 'P0' is not a tier of the taxonomy (expected one of P1, P2, P3)",
        f"{path}, row 3, column suggested_subtype: 'attitude' is a subtype of service, not of logistics",
        f"{path}, row 4, column suggested_subtype: 'late_delivery' is a subtype of logistics, not of service",
    ]
    # an export without the suggestion's columns is read, unless a reviewed ticket needs them
    without = tuple(column for column in EXPORT_COLUMNS if not column.startswith("suggested_"))
    assert len(read_export(_write(tmp_path / "older.csv", [good], without))) == 1
    assert _problems(_write(tmp_path / "reviewed.csv", [{**good, "reviewed": "true"}], without))[0] == (
        f"{tmp_path / 'reviewed.csv'}, row 2, column suggested_category: missing: a reviewed ticket needs the "
        "model's suggestion"
    )


def _drawn_without_missing_glyphs(draw: Callable[[], Path]) -> Path:
    """What `draw` returns, asserting matplotlib drew every glyph of its charts (it warns of each it
    has no font for, and draws an empty box)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        made = draw()
    missing = [str(warning.message) for warning in caught if "missing from font" in str(warning.message)]
    assert not missing, missing[:3]
    return made


def test_the_report_names_labels_departments_and_channels_as_the_business_does(tmp_path: Path) -> None:
    if charts.cjk_font() is None:
        pytest.skip("no font that draws Chinese is installed (Debian: fonts-wqy-microhei, as .ci/run installs)")
    # the names are the taxonomy's, whatever it calls them
    taxonomy = load_taxonomy()
    taxonomy = dataclasses.replace(taxonomy, departments={**taxonomy.departments, "cs": "客户服务中心"})
    rows = read_export(_write(tmp_path / "export.csv", ESCALATED))
    out = tmp_path / "report"
    path = _drawn_without_missing_glyphs(lambda: write_monthly_report(rows, "2026-10", out, taxonomy=taxonomy))
    report = path.read_text(encoding="utf-8")
    for line in (
        "- category: 服务问题 (service) 5",
        "- subtype: 态度恶劣 (attitude) 5",
        "- tier: 一级（紧急） (P1) 2, 二级（重要） (P2) 2, 三级（一般） (P3) 1",
        "- department: 技术部 (tech) 3, 客户服务中心 (cs) 2",
        "- channel: 电话 (phone) 5",
        "| escalated on a deadline, 客户服务中心 (cs) | 100.0 % |",
    ):
        assert line in report
    assert "codes" not in report  # the charts show the names


def test_without_a_font_for_chinese_the_charts_show_the_codes_and_the_report_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(charts, "CJK_FONTS", ("No Such Font",))  # as on a machine without one
    charts.cjk_font.cache_clear()
    try:
        rows = read_export(_write(tmp_path / "export.csv", ESCALATED))
        path = _drawn_without_missing_glyphs(lambda: write_monthly_report(rows, "2026-10", tmp_path / "report"))
    finally:
        charts.cjk_font.cache_clear()
    report = path.read_text(encoding="utf-8")
    assert "the charts show the codes: no font that draws Chinese is installed (fonts-wqy-microhei" in report
    assert "- department: 技术部 (tech) 3, 客服部 (cs) 2" in report  # the text keeps the names


def test_the_sla_and_survey_chart_says_what_a_month_without_their_figures_lacks() -> None:
    # the month's tickets are all open, their deadlines pending: two empty plots with meaningless
    # -0.04..0.04 axes were drawn
    if charts.cjk_font() is None:
        pytest.skip("no font that draws Chinese is installed (Debian: fonts-wqy-microhei, as .ci/run installs)")
    with charts.chinese_charts():  # as draw_figures draws it
        figure = sla_and_csat_figure(ESCALATED[:5], lambda column, code: code, chinese=True)
    left, right = figure.axes
    assert [text.get_text() for text in left.texts] == ["本月没有已解决或已超过解决时限的工单"]
    assert [text.get_text() for text in right.texts] == ["本月没有已关闭的工单，没有回访评分"]
    assert not left.patches and not right.patches and not left.axison and not right.axison
    # closed, but not surveyed yet; and once a deadline is decided, its bar
    closed = [{**ESCALATED[0], "status": "closed", "resolution_sla": "met"}, *ESCALATED[1:5]]
    figure = sla_and_csat_figure(closed, lambda column, code: code, chinese=False)
    left, right = figure.axes
    assert [text.get_text() for text in right.texts] == ["no closed ticket surveyed yet"]
    assert len(left.patches) == 1 and left.axison and not left.texts
