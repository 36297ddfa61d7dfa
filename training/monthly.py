"""The monthly analysis of exported tickets: figures (PNG) and a markdown summary.

Reads the CSV that `triage export --all` writes (one row per ticket, see EXPORT_COLUMNS; the SLA
columns hold met / breached / pending, booleans are "true"/"false") so that
the notebook, the `triage report` command and anyone with a spreadsheet work from the same file.
A file's values are checked before anything is counted (`read_export`): the labels, the demand,
the model's suggestion (`suggested_*`, its subtype inside its category) and the department against
the taxonomy, the channel, status and SLA states against the closed sets the
service writes (CHANNELS, STATUSES, SLA_STATES), emotion_index as an integer from 0 to 100, the
survey scores, closing feedback and times; a column the file has not got is not checked.
An export made before a column was added (`location`, `demand_note` and `received_by` came with
the ticket fields of schema revision 0002, `closing_feedback` after them, then
`first_response_escalated_at` and `resolution_escalated_at`, then `first_response_escalated_passed`
and `resolution_escalated_passed`, then `first_response_head_escalated_at` and
`resolution_head_escalated_at`, then `head_escalated_at`) is still read: a missing column reads as
empty (an export without `closing_feedback` has no closure-confirmation rate), except the escalation
columns, which an empty value could not tell from "not escalated" or "not passed": rows of a file
without them do not have them. Without the escalation times the escalation figures are unavailable
(None), not zero; with the times but without the sweep's verdicts, "passed" is derived from the times (see
`deadline_escalation`); without the times of the escalations to the department head, their count
is unavailable (None). `head_escalated_at`, when an urgent ticket was escalated to the department
head when filed or reviewed (not a deadline's escalation), is checked (a time, not before
`created_at`, or empty) and not counted in the deadline figures.
The report names categories, subtypes, tiers, departments and channels as the business does, by
their Chinese names (the taxonomy's, CHANNEL_NAMES for the channels): `技术部 (tech)` in the text,
the name alone on the charts, which need a CJK font for it (training.report.cjk_font; without one
they show the codes and the report says so).
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from model.taxonomy import Taxonomy, load_taxonomy  # noqa: E402
from training.data import (  # noqa: E402
    CHANNEL_NAMES,
    CHANNELS,
    HEADER_AGAIN,
    InputError,
    NumberedRecords,
    allow_long_fields,
    csv_error,
    field_count_problem,
    read_input,
    repeated_columns,
    repeats_header,
    separator_problem,
)
from training.report import chinese_charts, cjk_font, plot_confusion  # noqa: E402
from training.weekly import month_weeks, weekly_figure, weekly_note  # noqa: E402

EXPORT_COLUMNS = (
    "ticket_no", "created_at", "channel", "status", "text",
    "category", "subtype", "tier", "demand",
    "suggested_category", "suggested_subtype", "suggested_tier", "suggested_demand",
    "needs_review", "reviewed", "reviewed_by", "reviewed_at", "department", "model_version",
    "first_response_due", "first_response_at", "resolution_due", "resolved_at", "closed_at",
    "first_response_sla", "resolution_sla",
    "repeat_of", "emotion_index",
    "survey_timeliness", "survey_effectiveness", "survey_attitude", "survey_overall",
    "location", "demand_note", "received_by",
    "closing_feedback",
    "first_response_escalated_at", "resolution_escalated_at",
    "first_response_escalated_passed", "resolution_escalated_passed",
    "first_response_head_escalated_at", "resolution_head_escalated_at",
    "head_escalated_at",
)  # fmt: skip
# The project's sample export, found from this file: the notebook reads it by default from any folder.
SAMPLE_EXPORT = Path(__file__).resolve().parent.parent / "data" / "sample_export.csv"
# The customer's answer when the ticket was closed (`closing_feedback`, empty unless the ticket is
# closed): satisfied 满意, mostly 基本满意, not 不满意; the first two confirm the solution. The codes
# of the service's `closed` event (api.services.tracking, which training does not import).
CLOSING_FEEDBACK = ("satisfied", "mostly", "not")
CONFIRMING_FEEDBACK = ("satisfied", "mostly")
# The two deadlines the service's sweep escalates to the supervisor (api.services.deadlines): an
# export has `<kind>_due`, `<kind>_escalated_at` and `<kind>_escalated_passed` (whether the sweep
# found the deadline already passed, "true"/"false"), both empty while it was not escalated.
DEADLINE_NAMES = {"first_response": "first response (首次响应)", "resolution": "resolution (解决)"}
DEADLINE_KINDS = tuple(DEADLINE_NAMES)
ESCALATION_COLUMNS = tuple(f"{kind}_escalated_at" for kind in DEADLINE_KINDS)
# (the export columns of api.services.deadlines.Deadline.passed and .head_escalated, when the sweep
# escalated the deadline, passed unmet, to the department head; a test of the service holds them equal)
PASSED_COLUMNS = tuple(f"{kind}_escalated_passed" for kind in DEADLINE_KINDS)
HEAD_COLUMNS = tuple(f"{kind}_head_escalated_at" for kind in DEADLINE_KINDS)
# When the ticket itself went to the department head as urgent (its tier one of the escalation
# policy's head_at_intake, when filed or reviewed; api.services.urgent_escalation): not a deadline's
# escalation, so the deadline figures do not count it; checked as a time, or empty.
URGENT_HEAD_COLUMNS = ("head_escalated_at",)
OPTIONAL_ESCALATION_COLUMNS = (*ESCALATION_COLUMNS, *PASSED_COLUMNS, *HEAD_COLUMNS, *URGENT_HEAD_COLUMNS)
"""Columns a row of a file without them does not get (see the module docstring)."""
SURVEY = ("timeliness", "effectiveness", "attitude", "overall")
# A ticket's status: the stages of the service's tracking sheet (api.services.tracking.STATUS_NAMES,
# which training does not import; a test of the service holds the two equal).
STATUSES = (
    "received", "assigned", "in_progress", "customer_contacted", "escalated", "resolved", "closed", "reopened"
)  # fmt: skip
# The state of a deadline at the export (api.services.routing.sla_state).
SLA_STATES = ("met", "breached", "pending")
# Columns the export always fills (the channel as CHANNELS has it): empty in a file that has the
# column, a value is missing.
HEADS = ("category", "subtype", "tier")
LABELS = (*HEADS, "demand")
SUGGESTED = tuple(f"suggested_{label}" for label in LABELS)
FILLED_COLUMNS = (
    "demand",
    *SUGGESTED,
    "channel",
    "status",
    "department",
    "first_response_sla",
    "resolution_sla",
    "emotion_index",
)
REQUIRED = ("ticket_no", "created_at", *HEADS)
TIME_COLUMNS = (
    "created_at", "first_response_at", "resolved_at", *ESCALATION_COLUMNS, *HEAD_COLUMNS, *URGENT_HEAD_COLUMNS
)  # fmt: skip


class ExportError(ValueError):
    """An export the report cannot use; the message names the file and the rows and columns.

    A notebook shows the message alone, as `triage report` prints it, not a traceback of the
    reading code (IPython's `_render_traceback_`).
    """

    def _render_traceback_(self) -> list[str]:
        return f"error: {self}".splitlines()


def read_export(path: Path, taxonomy: Taxonomy | None = None) -> list[dict[str, str]]:
    """Rows of an export CSV, each with every column of EXPORT_COLUMNS (empty when the file has not
    got it, except OPTIONAL_ESCALATION_COLUMNS, left out: see the module docstring) and
    the file's other columns; raises ExportError naming every row and column it cannot use (up to
    ten), or an unusable file. Labels and departments are codes of `taxonomy` (default:
    data/taxonomy.yaml)."""
    if taxonomy is None:
        taxonomy = load_taxonomy()
    try:
        _, content = read_input(path)  # as `triage train` reads its files
    except InputError as error:
        raise ExportError(f"{path}: {error}") from None
    allow_long_fields()
    problems: list[str] = []
    rows: list[dict[str, str]] = []
    records = NumberedRecords(io.StringIO(content, newline=""))
    try:
        if not records.header:
            raise ExportError(f"{path}: empty file, no header row")
        unusable = separator_problem(records.header) or repeated_columns(records.header)
        if unusable:
            raise ExportError(f"{path}, row {records.row}: {unusable}")
        missing = [column for column in REQUIRED if column not in records.header]
        if missing:
            raise ExportError(f"{path}, row {records.row}: missing column(s) {', '.join(missing)}")
        absent = dict.fromkeys(
            (c for c in EXPORT_COLUMNS if c not in records.header and c not in OPTIONAL_ESCALATION_COLUMNS), ""
        )
        for number, record in records:
            shape = field_count_problem(records.header, records.width)
            if shape is None and repeats_header(record, records.header):
                shape = HEADER_AGAIN
            found = _export_problems(record, shape, taxonomy)
            problems += [f"{path}, row {number}{where}: {what}" for where, what in found]
            rows.append({**absent, **{str(name): value or "" for name, value in record.items()}})
    except csv.Error as error:
        raise ExportError(f"{path}, row {records.row + 1}: {csv_error(error)}") from None
    if problems:
        more = f"\n… and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise ExportError("\n".join(problems[:10]) + more)
    return rows


def _export_problems(record: dict[str | None, Any], fields: str | None, taxonomy: Taxonomy) -> list[tuple[str, str]]:
    """(", column X" or "", problem) for what the report cannot use in one exported row; `fields`
    is the problem of its number of fields (or the header row repeated), if it has one."""
    if fields is not None:
        return [("", fields)]
    found = []
    for head in HEADS:
        if not (record.get(head) or "").strip():
            found.append((f", column {head}", "empty: every exported ticket has a category, subtype and tier"))
    found += _code_problems(record, taxonomy)
    times: dict[str, datetime] = {}
    for column in TIME_COLUMNS:
        value = record.get(column) or ""
        if column == "created_at" or value:
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                found.append((f", column {column}", f"{value!r} is not an ISO time such as 2026-10-08T09:30:00+08:00"))
                continue
            if moment.tzinfo is None:
                found.append((f", column {column}", f"{value!r} has no UTC offset (exports write one)"))
            else:
                times[column] = moment
    created = times.get("created_at")
    for column, moment in times.items():
        if created is not None and moment < created:
            found.append((f", column {column}", f"{record[column]!r} is before created_at"))
    for kind in DEADLINE_KINDS:
        due = record.get(f"{kind}_due") or ""
        if f"{kind}_escalated_at" in times and not _is_zoned_time(due):
            found.append((f", column {kind}_due", f"{due!r}: an escalated deadline needs its ISO due time"))
        found += _passed_problems(record, kind)
        found += _head_problems(record, kind, times)
    for name in SURVEY:
        value = record.get(f"survey_{name}") or ""
        if value and value not in {"1", "2", "3", "4", "5"}:
            found.append((f", column survey_{name}", f"{value!r} is not a score from 1 to 5"))
    feedback = record.get("closing_feedback") or ""
    if feedback and feedback not in CLOSING_FEEDBACK:
        found.append((", column closing_feedback", f"{feedback!r} is not one of {', '.join(CLOSING_FEEDBACK)}"))
    if record.get("reviewed") == "true":  # (an empty suggestion is named above, for every ticket)
        for head in HEADS:
            if record.get(f"suggested_{head}") is None:
                found.append((f", column suggested_{head}", "missing: a reviewed ticket needs the model's suggestion"))
    return found


def _passed_problems(record: dict[str | None, Any], kind: str) -> list[tuple[str, str]]:
    """The sweep's verdict on one deadline of an exported row (`<kind>_escalated_passed`, not
    checked when the file has not got the column): "true" or "false" when it was escalated, else empty."""
    column, escalated = f"{kind}_escalated_passed", f"{kind}_escalated_at"
    value = record.get(column)
    if value is None:
        return []
    if value not in ("true", "false", ""):
        return [(f", column {column}", f"{value!r} is not true, false or empty")]
    if value and not record.get(escalated):
        return [(f", column {column}", f"{value!r} without {escalated}: only an escalated deadline has a verdict")]
    if not value and record.get(escalated):
        return [(f", column {column}", f"empty: the export fills it for an escalated deadline ({escalated})")]
    return []


def _head_problems(record: dict[str | None, Any], kind: str, times: dict[str, datetime]) -> list[tuple[str, str]]:
    """The escalation of one deadline to the department head in an exported row
    (`<kind>_head_escalated_at`, its time already checked into `times`): only after the escalation
    to the supervisor, and not before it."""
    head, escalated = f"{kind}_head_escalated_at", f"{kind}_escalated_at"
    if head not in times:
        return []
    if not record.get(escalated):
        return [(f", column {head}", f"{record[head]!r} without {escalated}: the head comes after the supervisor")]
    if escalated in times and times[head] < times[escalated]:
        return [(f", column {head}", f"{record[head]!r} is before {escalated}")]
    return []


def _code_problems(record: dict[str | None, Any], taxonomy: Taxonomy) -> list[tuple[str, str]]:
    """The labels, the model's suggestion, department, channel, status, SLA states and emotion
    index of one exported row that are not values the export writes (a column the file has not got
    is not checked)."""
    found: list[tuple[str, str]] = []
    for column in FILLED_COLUMNS:
        if record.get(column) == "":
            found.append((f", column {column}", "empty: the export fills it for every ticket"))
    labels: dict[str, tuple[str, Sequence[str]]] = {
        "category": ("a category of the taxonomy", tuple(taxonomy.categories)),
        "subtype": ("a subtype of the taxonomy", tuple(taxonomy.subtypes)),
        "tier": ("a tier of the taxonomy", tuple(taxonomy.tiers)),
        "demand": ("a demand of the taxonomy", tuple(taxonomy.demands)),
    }
    closed_sets: dict[str, tuple[str, Sequence[str]]] = {
        **labels,
        **{f"suggested_{label}": codes for label, codes in labels.items()},
        "department": ("a department of the taxonomy", tuple(taxonomy.departments)),
        "channel": ("a channel", CHANNELS),
        "status": ("a ticket status", STATUSES),
        "first_response_sla": ("an SLA state", SLA_STATES),
        "resolution_sla": ("an SLA state", SLA_STATES),
    }
    for column, (kind, allowed) in closed_sets.items():
        value = record.get(column)
        if value and value not in allowed:
            found.append((f", column {column}", f"{value!r} is not {kind} (expected one of {', '.join(allowed)})"))
    for prefix in ("", "suggested_"):
        category, subtype = record.get(f"{prefix}category"), record.get(f"{prefix}subtype")
        if category in taxonomy.categories and subtype in taxonomy.subtypes:
            owner = taxonomy.subtypes[subtype].category
            if owner != category:
                found.append((f", column {prefix}subtype", f"{subtype!r} is a subtype of {owner}, not of {category}"))
    emotion = record.get("emotion_index")
    if emotion and not (emotion.isascii() and emotion.isdigit() and int(emotion) <= 100):
        found.append((", column emotion_index", f"{emotion!r} is not an integer from 0 to 100"))
    return found


def _is_zoned_time(value: str) -> bool:
    try:
        return datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


def _time(value: str) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def in_month(rows: Sequence[dict[str, str]], month: str) -> list[dict[str, str]]:
    """Rows created in `month` (YYYY-MM)."""
    return [row for row in rows if row["created_at"][:7] == month]


def previous_month(month: str) -> str:
    """The month before `month` (YYYY-MM)."""
    year, number = int(month[:4]), int(month[5:7])
    return f"{year - 1}-12" if number == 1 else f"{year}-{number - 1:02d}"


def _hours(start: str, end: str) -> float | None:
    begin, finish = _time(start), _time(end)
    return (finish - begin).total_seconds() / 3600 if begin and finish else None


def _mean(values: Sequence[float]) -> float | None:
    return round(sum(values) / len(values), 3) if values else None


def _suggestion_kept(rows: Sequence[dict[str, str]]) -> dict[str, float | None]:
    """Per head, the share of `rows` (reviewed tickets) whose final label is the model's suggestion."""
    return {head: _mean([float(row[head] == row[f"suggested_{head}"]) for row in rows]) for head in HEADS}


def _share(count: int, total: int) -> float | None:
    return round(count / total, 3) if total else None


def closure_confirmation(rows: Sequence[dict[str, str]]) -> tuple[float | None, dict[str, float | None]]:
    """The closure-confirmation rate (闭环确认率): of the closed tickets whose closing feedback is
    known, the share the customer confirmed as solved (satisfied or mostly), overall and per
    department; None where no such ticket is (an export without `closing_feedback`)."""
    answered = [row for row in rows if row.get("status") == "closed" and row.get("closing_feedback")]
    departments: dict[str, list[bool]] = defaultdict(list)
    for row in answered:
        departments[row.get("department", "")].append(row["closing_feedback"] in CONFIRMING_FEEDBACK)
    overall = _share(sum(row["closing_feedback"] in CONFIRMING_FEEDBACK for row in answered), len(answered))
    return overall, {department: _share(sum(flags), len(flags)) for department, flags in sorted(departments.items())}


def _passed(row: dict[str, str], kind: str) -> bool:
    """Whether the escalated deadline `kind` of `row` had passed: the sweep's verdict, or for an
    export without it, the escalation time after the due time."""
    verdict = row.get(f"{kind}_escalated_passed")
    if verdict is not None:
        return verdict == "true"
    return datetime.fromisoformat(row[f"{kind}_escalated_at"]) > datetime.fromisoformat(row[f"{kind}_due"])


def deadline_escalation(rows: Sequence[dict[str, str]]) -> dict[str, Any]:
    """The deadline escalation rate (时限升级率): the share of `rows` (tickets) with at least one
    deadline escalated to the supervisor, overall (`rate`), per tier and per department (the
    ticket's effective ones at the export), and per deadline kind the deadlines `escalated` and,
    of them, those `passed`: already past their due time when the sweep escalated them (a deadline
    near its due time is escalated before it; one found overdue, after), and those
    `head_escalated`: passed unmet and escalated to the department head (None for an export
    without `<kind>_head_escalated_at`).

    "Passed" is the sweep's verdict, `<kind>_escalated_passed`, which a review that re-tiered the
    ticket after the escalation does not change. A row without that column (an export made before
    it) has it derived from the times it gives: escalated after the due time, to the second, the
    due time as it was at the export (moved by such a review).

    Unavailable (rate None, empty breakdowns) when a row has not got the escalation columns: an
    export made before them, whose empty values would read as "not escalated"."""
    if any(column not in row for row in rows for column in ESCALATION_COLUMNS):
        return {"rate": None, "by_tier": {}, "by_department": {}, "deadlines": {}}
    deadlines = {}
    for kind in DEADLINE_KINDS:
        escalated = [row for row in rows if row[f"{kind}_escalated_at"]]
        passed = sum(_passed(row, kind) for row in escalated)
        column = f"{kind}_head_escalated_at"
        head = None if any(column not in row for row in rows) else sum(bool(row[column]) for row in rows)
        deadlines[kind] = {"escalated": len(escalated), "passed": passed, "head_escalated": head}
    flags = [any(row[column] for column in ESCALATION_COLUMNS) for row in rows]
    tiers: dict[str, list[bool]] = defaultdict(list)
    departments: dict[str, list[bool]] = defaultdict(list)
    for row, flag in zip(rows, flags, strict=True):
        tiers[row["tier"]].append(flag)
        departments[row.get("department", "")].append(flag)
    return {
        "rate": _share(sum(flags), len(flags)),
        "by_tier": {tier: _share(sum(marks), len(marks)) for tier, marks in sorted(tiers.items())},
        "by_department": {name: _share(sum(marks), len(marks)) for name, marks in sorted(departments.items())},
        "deadlines": deadlines,
    }


def urgent_head_escalations(rows: Sequence[dict[str, str]]) -> int | None:
    """How many of `rows` went to the department head at once as urgent (`head_escalated_at`, set
    when filed or reviewed with a tier of the policy's head_at_intake; not a deadline's escalation).
    None for an export without the column, whose empty values would read as "not escalated"."""
    if any(column not in row for row in rows for column in URGENT_HEAD_COLUMNS):
        return None
    return sum(bool(row["head_escalated_at"]) for row in rows)


def summarise(rows: Sequence[dict[str, str]]) -> dict[str, Any]:
    """Volumes, response and resolution times, SLA breaches (first response and resolution, per
    tier), repeats, survey coverage and means, the closure-confirmation rate (overall and per
    department), the deadline escalation rate (overall, per tier and department, and the deadlines
    escalated and passed per kind; None and empty for an export without its columns), the urgent
    tickets escalated to the department head at once, and live accuracy."""
    summary: dict[str, Any] = {"tickets": len(rows)}
    for column in ("category", "subtype", "tier", "department", "channel"):
        summary[f"by_{column}"] = dict(Counter(row.get(column, "") for row in rows).most_common())
    first = [h for row in rows if (h := _hours(row["created_at"], row.get("first_response_at", ""))) is not None]
    resolution = [h for row in rows if (h := _hours(row["created_at"], row.get("resolved_at", ""))) is not None]
    summary["mean_first_response_hours"] = _mean(first)
    summary["mean_resolution_hours"] = _mean(resolution)
    for sla in ("first_response", "resolution"):
        breaches: dict[str, list[bool]] = defaultdict(list)
        for row in rows:
            if row.get(f"{sla}_sla") in ("met", "breached"):
                breaches[row["tier"]].append(row[f"{sla}_sla"] == "breached")
        summary[f"{sla}_sla_breach_rate"] = {
            tier: round(sum(flags) / len(flags), 3) for tier, flags in sorted(breaches.items())
        }
    summary["resolution_rate"] = round(sum(bool(row.get("resolved_at")) for row in rows) / max(1, len(rows)), 3)
    # 重复投诉率 (practice document 000: 下降至10%以内, a ceiling): tickets with an earlier one as `repeat_of`.
    summary["repeat_rate"] = round(sum(bool(row.get("repeat_of")) for row in rows) / max(1, len(rows)), 3)
    # 回访覆盖率 (practice document 000: target 100 %): closed tickets with their survey.
    closed = [row for row in rows if row.get("status") == "closed"]
    surveyed = sum(bool(row.get("survey_overall")) for row in closed)
    summary["survey_coverage"] = _share(surveyed, len(closed))
    confirmed, by_department = closure_confirmation(rows)
    summary["closure_confirmation_rate"] = confirmed
    summary["closure_confirmation_by_department"] = by_department
    escalation = deadline_escalation(rows)
    summary["deadline_escalation_rate"] = escalation["rate"]
    summary["deadline_escalation_by_tier"] = escalation["by_tier"]
    summary["deadline_escalation_by_department"] = escalation["by_department"]
    summary["deadline_escalations"] = escalation["deadlines"]
    summary["urgent_head_escalations"] = urgent_head_escalations(rows)
    summary["survey_means"] = {
        name: _mean([float(row[f"survey_{name}"]) for row in rows if row.get(f"survey_{name}")]) for name in SURVEY
    }
    reviewed = [row for row in rows if row.get("reviewed") == "true"]
    summary["reviewed"] = len(reviewed)
    summary["live_accuracy"] = _suggestion_kept(reviewed)
    # The review queue holds the uncertain tickets, so the figure above is lower than what the
    # tickets nobody had to review get; those an agent checked anyway (a spot check) estimate it.
    spot_checked = [row for row in reviewed if row.get("needs_review") == "false"]
    summary["spot_checked"] = len(spot_checked)
    summary["spot_check_accuracy"] = _suggestion_kept(spot_checked)
    summary["autofilled_share"] = round(sum(row.get("needs_review") == "false" for row in rows) / max(1, len(rows)), 3)
    return summary


NAMED = ("category", "subtype", "tier", "department", "channel")
NO_CJK_FONT = (
    "the charts show the codes: no font that draws Chinese is installed (fonts-wqy-microhei, or another of "
    "training.report.CJK_FONTS)"
)
"""The columns whose codes the report shows by their Chinese names."""


def label_names(taxonomy: Taxonomy) -> dict[str, dict[str, str]]:
    """The Chinese name of each code of the NAMED columns: the taxonomy's, and CHANNEL_NAMES for the
    channels."""
    return {
        "category": {code: category.name for code, category in taxonomy.categories.items()},
        "subtype": {code: subtype.name for code, subtype in taxonomy.subtypes.items()},
        "tier": {code: tier.name for code, tier in taxonomy.tiers.items()},
        "department": dict(taxonomy.departments),
        "channel": dict(CHANNEL_NAMES),
    }


def named(names: dict[str, dict[str, str]], column: str, code: str) -> str:
    """`code` of `column` as the report's text shows it: `技术部 (tech)`; a code the taxonomy has not
    got (a ticket filed under an earlier one), as it is."""
    name = names[column].get(code)
    return f"{name} ({code})" if name else code


def draw_figures(rows: Sequence[dict[str, str]], out: Path, month: str, taxonomy: Taxonomy | None = None) -> list[Path]:
    """Weekly volume per category in `month` (YYYY-MM; tickets per day, see training.weekly),
    suggested-vs-final confusion, SLA breaches per tier, CSAT; labelled with the Chinese names of
    `taxonomy` (default: data/taxonomy.yaml), or the codes when no CJK font is installed."""
    out.mkdir(parents=True, exist_ok=True)
    names = label_names(taxonomy or load_taxonomy()) if cjk_font() else {column: {} for column in NAMED}

    def shown(column: str, code: str) -> str:
        return names[column].get(code, code)

    paths = [out / name for name in ("weekly_volume.png", "suggested_vs_final_subtype.png", "sla_and_csat.png")]
    with chinese_charts():
        weekly_figure(month_weeks(rows, month), names["category"]).savefig(paths[0], dpi=100)

        reviewed = [row for row in rows if row.get("reviewed") == "true"]
        labels = sorted({row["subtype"] for row in reviewed} | {row["suggested_subtype"] for row in reviewed})
        index = {label: i for i, label in enumerate(labels)}
        matrix = [[0] * len(labels) for _ in labels]
        for row in reviewed:
            matrix[index[row["subtype"]]][index[row["suggested_subtype"]]] += 1
        title = "subtype: final (rows) vs suggested (columns)"
        plot_confusion([shown("subtype", label) for label in labels], matrix, title, paths[1])

        sla_and_csat_figure(rows, shown, chinese=bool(cjk_font())).savefig(paths[2], dpi=100)
    return paths


def sla_and_csat_figure(rows: Sequence[dict[str, str]], shown: Callable[[str, str], str], *, chinese: bool) -> Figure:
    """The resolution SLA breached per tier (its label as `shown` gives it) and the survey means of
    `rows`; a plot without figures (no deadline met or breached yet, no survey answered) says why
    instead of drawing empty axes, in Chinese when `chinese` (a CJK font is installed)."""
    summary = summarise(rows)
    figure = Figure(figsize=(9, 3.5))
    left, right = figure.subplots(1, 2)
    left.set_title("resolution SLA breached (%)")
    right.set_title("survey means (1-5)")
    breach = summary["resolution_sla_breach_rate"]
    if breach:
        left.bar([shown("tier", tier) for tier in breach], [100 * value for value in breach.values()], color="tab:red")
    else:
        _say(left, "本月没有已解决或已超过解决时限的工单" if chinese else "no ticket resolved or past its deadline")
    means = {name: value for name, value in summary["survey_means"].items() if value is not None}
    if means:
        right.bar(list(means), list(means.values()), color="tab:green")
        right.set_ylim(0, 5)
    elif any(row.get("status") == "closed" for row in rows):
        _say(right, "本月已关闭的工单都还没有回访评分" if chinese else "no closed ticket surveyed yet")
    else:
        _say(right, "本月没有已关闭的工单，没有回访评分" if chinese else "no closed ticket this month: no survey")
    figure.tight_layout()
    return figure


def _say(axes: Axes, message: str) -> None:
    """`message` in the middle of `axes`, which lose their (meaningless) ticks and frame."""
    axes.set_axis_off()
    axes.text(0.5, 0.5, message, ha="center", va="center", transform=axes.transAxes, color="0.3")


def reviewed_only_warning(rows: Sequence[dict[str, str]], month: str, source: str) -> str | None:
    """A warning when every ticket of `month` in `rows` (read from the export `source`) was
    reviewed: the mark of an export made without --all, which leaves out the tickets no agent
    reviewed, so the report would count the reviewed ones only; None otherwise."""
    month_rows = in_month(rows, month)
    if not month_rows or any(row.get("reviewed") != "true" for row in month_rows):
        return None
    return (
        f"every ticket of {month} in {source} ({len(month_rows)}) was reviewed by an agent, as in an export "
        "made without --all, which leaves out the tickets nobody reviewed: the figures may cover the reviewed "
        "tickets only (triage export --all exports every ticket)"
    )


def write_monthly_report(
    rows: Sequence[dict[str, str]],
    month: str,
    out: Path,
    *,
    taxonomy: Taxonomy | None = None,
    source: str = "the export",
    every_ticket: bool = False,
) -> Path:
    """`report.md` plus the figures for one month of exported tickets, written into `out` only
    once all of them are made (a failure leaves `out` as it was), naming the labels, departments
    and channels as `taxonomy` does (default: data/taxonomy.yaml); `source` says where `rows` were
    read (such as "the ticket database" or "the export dec.csv"). Unless `rows` are known to hold
    every ticket (`every_ticket`: read from the database), the report warns when they look like an
    export made without --all (reviewed_only_warning). ValueError if no ticket was created in `month`."""
    if taxonomy is None:
        taxonomy = load_taxonomy()
    month_rows = in_month(rows, month)
    if not month_rows:
        raise ValueError(f"no tickets created in {month} ({len(rows)} tickets in all); nothing written")
    summary = summarise(month_rows)
    earlier = in_month(rows, previous_month(month))
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    # Staged inside `out` (whose parent may not be writable), moved up once everything is made.
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out))
    try:
        figures = draw_figures(month_rows, staging, month, taxonomy)
        before = summarise(earlier) if earlier else None
        warning = None if every_ticket else reviewed_only_warning(rows, month, source)
        _write_report(summary, month, figures, staging / "report.md", before, label_names(taxonomy), source, warning)
        for made in (*figures, staging / "report.md"):
            os.replace(made, out / made.name)
    except BaseException:
        shutil.rmtree(out if created else staging, ignore_errors=True)
        raise
    shutil.rmtree(staging, ignore_errors=True)
    return out / "report.md"


def _write_report(
    summary: dict[str, Any],
    month: str,
    figures: Sequence[Path],
    path: Path,
    before: dict[str, Any] | None,
    names: dict[str, dict[str, str]],
    source: str,
    warning: str | None,
) -> None:
    """The markdown report of `summary`, read from `source`; `before`, the summary of the month
    before in the same source (None when it has no ticket of it), gives the headline figures a
    column to compare; codes are shown with their Chinese names in `names` (label_names); `warning`,
    if any, is given under the first line."""
    pct, hours = _percent, _hours_shown

    def shown(column: str, code: str) -> str:
        return named(names, column, code)

    fonts = [] if cjk_font() else [f"Note: {NO_CJK_FONT}.", ""]
    lines = [
        f"# Complaints in {month}",
        "",
        f"Read from {source}.",
        "",
        *([f"**Warning:** {warning}.", ""] if warning else []),
        f"{summary['tickets']} tickets; {summary['reviewed']} reviewed by agents; "
        f"{pct(summary['autofilled_share'])} auto-filled.",
        "",
        "| figure | value |",
        "|---|---|",
        f"| mean first response | {hours(summary['mean_first_response_hours'])} |",
        f"| mean resolution | {hours(summary['mean_resolution_hours'])} |",
        f"| resolution rate | {pct(summary['resolution_rate'])} |",
        f"| repeat-complaint rate (target: at most 10 %) | {pct(summary['repeat_rate'])} |",
        *[f"| first response SLA breached, {shown('tier', t)} | {pct(v)} |"
          for t, v in summary["first_response_sla_breach_rate"].items()],
        *[f"| resolution SLA breached, {shown('tier', t)} | {pct(v)} |"
          for t, v in summary["resolution_sla_breach_rate"].items()],
        f"| survey coverage of closed tickets (target 100 %) | {pct(summary['survey_coverage'])} |",
        f"| closures the customer confirmed (满意 or 基本满意) | {pct(summary['closure_confirmation_rate'])} |",
        *[f"| closures confirmed, {shown('department', department)} | {pct(v)} |"
          for department, v in summary["closure_confirmation_by_department"].items()],
        f"| tickets escalated on a deadline (时限升级) | {pct(summary['deadline_escalation_rate'])} |",
        *[f"| escalated on a deadline, {shown('tier', tier)} | {pct(v)} |"
          for tier, v in summary["deadline_escalation_by_tier"].items()],
        *[f"| escalated on a deadline, {shown('department', department)} | {pct(v)} |"
          for department, v in summary["deadline_escalation_by_department"].items()],
        *[f"| deadlines escalated, {DEADLINE_NAMES[kind]} | {n['escalated']} ({n['passed']} already passed) |"
          for kind, n in summary["deadline_escalations"].items()],
        *[f"| deadlines escalated to the department head (部门负责人), {DEADLINE_NAMES[kind]} | "
          f"{'–' if n['head_escalated'] is None else n['head_escalated']} |"
          for kind, n in summary["deadline_escalations"].items()],
        f"| urgent tickets escalated to the department head at once (紧急升级) | "
        f"{_number(summary['urgent_head_escalations'])} |",
        *[f"| survey {name} (1–5) | {v if v is not None else '–'} |" for name, v in summary["survey_means"].items()],
        *[f"| suggestion = final, {head} | {pct(v)} |" for head, v in summary["live_accuracy"].items()],
        *[f"| suggestion = final on auto-filled tickets checked anyway ({summary['spot_checked']}), {head} | {pct(v)} |"
          for head, v in summary["spot_check_accuracy"].items()],
        "",
        "## Volume",
        "",
        *[f"- {column}: " + ", ".join(f"{shown(column, k)} {v}" for k, v in summary[f"by_{column}"].items())
          for column in NAMED],  # most frequent first
        "",
        *comparison(summary, before, month, names, source),
        weekly_note(month),
        "",
        *fonts,
        *[f"![{path.stem}]({path.name})" for path in figures],
        "",
    ]  # fmt: skip
    path.write_text("\n".join(lines), encoding="utf-8")


def _percent(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.1f} %"


def _number(value: float | None) -> str:
    return "–" if value is None else str(value)


def _hours_shown(value: float | None) -> str:
    return "–" if value is None else f"{value} h"  # 0.0 h is a figure, not a missing one


def comparison(
    summary: dict[str, Any],
    before: dict[str, Any] | None,
    month: str,
    names: dict[str, dict[str, str]] | None = None,
    source: str = "the export",
) -> list[str]:
    """Markdown lines comparing the headline figures of `month` (`summary`) with the month before
    (`before`, as far as `source` holds it; None: it holds no ticket of it); tiers named as in
    `names` (label_names; default: data/taxonomy.yaml's)."""
    if names is None:
        names = label_names(load_taxonomy())
    previous = previous_month(month)
    pct, hours = _percent, _hours_shown

    if before is None:
        held = f"{source[:1].upper()}{source[1:]} holds no ticket created in {previous}."
        return [f"## Compared with {previous}", "", held, ""]
    headline: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("tickets", lambda s: str(s["tickets"])),
        *[(f"tickets of tier {named(names, 'tier', tier)}", lambda s, tier=tier: str(s["by_tier"].get(tier, 0)))
          for tier in sorted({*before["by_tier"], *summary["by_tier"]})],
        ("mean first response", lambda s: hours(s["mean_first_response_hours"])),
        ("mean resolution", lambda s: hours(s["mean_resolution_hours"])),
        ("repeat-complaint rate", lambda s: pct(s["repeat_rate"])),
        ("closures the customer confirmed", lambda s: pct(s["closure_confirmation_rate"])),
        ("tickets escalated on a deadline", lambda s: pct(s["deadline_escalation_rate"])),
        ("urgent tickets escalated to the department head at once", lambda s: _number(s["urgent_head_escalations"])),
        ("survey overall (1–5)", lambda s: _number(s["survey_means"]["overall"])),
        ("auto-filled", lambda s: pct(s["autofilled_share"])),
        ("suggestion = final on auto-filled tickets checked anyway, subtype",
         lambda s: pct(s["spot_check_accuracy"]["subtype"])),
    ]  # fmt: skip
    return [
        f"## Compared with {previous}",
        "",
        f"| figure | {previous} | {month} |",
        "|---|---|---|",
        *[f"| {name} | {value(before)} | {value(summary)} |" for name, value in headline],
        "",
    ]
