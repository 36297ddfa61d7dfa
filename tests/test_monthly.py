"""The weekly volume of the monthly report: ISO weeks cut to the month, compared per day."""

from __future__ import annotations

from pathlib import Path

from training.monthly import SAMPLE_EXPORT, read_export, write_monthly_report
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


def test_the_report_says_how_the_weekly_chart_counts(tmp_path: Path) -> None:
    rows = read_export(SAMPLE_EXPORT)
    report = write_monthly_report(rows, "2026-10", tmp_path).read_text(encoding="utf-8")
    assert "mean number of tickets per day" in report
    assert "2026-W40 (10-01..10-04, 4 of 7 days) and 2026-W44 (10-26..10-31, 6 of 7 days)" in report
