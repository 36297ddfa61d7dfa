"""The weekly volume of a month's tickets, honest about the weeks the month cuts.

A month's first and last ISO weeks usually straddle the months before and after it: only their
days in the month are counted, so a raw count would show them low. The chart therefore plots
the mean number of tickets per day of each week's days in the month, and labels (and shades) the
partial weeks with the days they cover.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import matplotlib

matplotlib.use("Agg")
from matplotlib.figure import Figure  # noqa: E402

ISO_WEEK_DAYS = 7


@dataclass(frozen=True)
class Week:
    """An ISO week as far as it lies in one month: its first and last day there, and the tickets
    created on those days per category."""

    year: int
    number: int
    first: date
    last: date
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def days(self) -> int:
        """How many of the week's days are in the month."""
        return (self.last - self.first).days + 1

    @property
    def partial(self) -> bool:
        """True when part of the week is in another month."""
        return self.days < ISO_WEEK_DAYS

    @property
    def name(self) -> str:
        """The ISO week, such as 2026-W40."""
        return f"{self.year}-W{self.number:02d}"

    @property
    def span(self) -> str:
        """Its days in the month, such as 10-01..10-04."""
        return f"{self.first:%m-%d}..{self.last:%m-%d}"

    @property
    def label(self) -> str:
        """Name and days, with how many of the 7 for a partial week."""
        return f"{self.name} {self.span}" + (f" ({self.days} of 7 days)" if self.partial else "")

    def per_day(self, category: str) -> float:
        """Mean tickets of `category` per day of the week's days in the month."""
        return self.counts.get(category, 0) / self.days


def month_days(month: str) -> tuple[date, date]:
    """The first and last day of `month` (YYYY-MM); ValueError for anything else."""
    first = datetime.strptime(month, "%Y-%m").date()
    following = date(first.year + 1, 1, 1) if first.month == 12 else date(first.year, first.month + 1, 1)
    return first, following - timedelta(days=1)


def month_weeks(rows: Sequence[dict[str, str]], month: str) -> list[Week]:
    """Every ISO week of `month`, cut to the month's days, with the tickets created on those days
    per category (the day as written in `created_at`, in its own UTC offset); rows created in
    another month are not counted."""
    first, last = month_days(month)
    spans: dict[tuple[int, int], list[date]] = {}
    day = first
    while day <= last:
        year, number, _ = day.isocalendar()
        spans.setdefault((year, number), []).append(day)
        day += timedelta(days=1)
    counts: dict[tuple[int, int], Counter[str]] = {key: Counter() for key in spans}
    for row in rows:
        created = datetime.fromisoformat(row["created_at"]).date()
        if first <= created <= last:
            year, number, _ = created.isocalendar()
            counts[(year, number)][row["category"]] += 1
    return [
        Week(year, number, days[0], days[-1], dict(counts[(year, number)])) for (year, number), days in spans.items()
    ]


def weekly_figure(weeks: Sequence[Week], names: Mapping[str, str] | None = None) -> Figure:
    """Tickets per day of each week's days in the month, one line per category (labelled with its
    name in `names`, by default its code); partial weeks shaded and labelled with the days they
    cover."""
    figure = Figure(figsize=(8, 4.5))
    axes = figure.subplots()
    positions = list(range(len(weeks)))
    for category in sorted({category for week in weeks for category in week.counts}):
        label = (names or {}).get(category, category)
        axes.plot(positions, [week.per_day(category) for week in weeks], marker="o", label=label)
    for position, week in zip(positions, weeks):
        if week.partial:
            axes.axvspan(position - 0.5, position + 0.5, color="0.9", zorder=0)
    axes.set_xticks(
        positions,
        [f"{w.name}\n{w.span}" + (f"\n({w.days} of 7 days)" if w.partial else "") for w in weeks],
        fontsize=8,
    )
    axes.set_title("tickets per day, by ISO week and category (shaded: weeks partly in another month)", fontsize=10)
    axes.set_ylabel("tickets per day (the week's days in the month)")
    axes.set_ylim(bottom=0)
    if axes.get_lines():  # beside the axes: inside, wherever it went, it could hide a week's point
        axes.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    figure.tight_layout()
    return figure


def weekly_note(month: str) -> str:
    """How the weekly chart of `month` counts, naming its partial weeks (for the report's text)."""
    partial = [f"{week.name} ({week.span}, {week.days} of 7 days)" for week in month_weeks([], month) if week.partial]
    note = (
        "The weekly chart shows the mean number of tickets per day of each ISO week, over the week's "
        f"days in {month} only, so that a week the month cuts compares with a full one"
    )
    if partial:
        note += f"; the partial weeks are shaded: {' and '.join(partial)}"
    return note + "."
