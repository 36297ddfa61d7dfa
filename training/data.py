"""Read labeled complaint CSVs and check every row; problems carry file, row and column.

Row numbers are the rows a spreadsheet shows: the header is row 1, the first record row 2, and
a record whose text spans several lines is still one row. Problems of the file's bytes (encoding)
name the line instead.
A fatal problem stops training before anything is written; a warning (a duplicate that was
dropped, an export row no agent reviewed) is reported and training goes on.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
import stat
import unicodedata
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from model.predictor import MIN_CJK_CHARS, judgeable, text_issues
from model.taxonomy import Taxonomy
from model.text import CJK_IDEOGRAPHS, normalise
from training.spreadsheet import cell_value

REQUIRED_COLUMNS = ("text", "category", "subtype", "tier")
OPTIONAL_COLUMNS = ("demand", "id", "channel", "created_at", "reviewed")
# The names the business gives the columns (文本, 类别 … heading a colleague's sheet). A header
# naming one column by one of these, or in another case, is read as that column (with a warning).
CHINESE_COLUMN_NAMES: dict[str, tuple[str, ...]] = {
    "text": ("文本",),
    "category": ("类别",),
    "subtype": ("子类", "子类型"),
    "tier": ("等级", "紧急程度"),
    "demand": ("诉求",),
    "id": ("编号",),
    "channel": ("渠道",),
    "created_at": ("创建时间",),
}
# The channels a ticket comes in by and their Chinese names (the service, its console and the
# monthly report show the names).
CHANNEL_NAMES = {"phone": "电话", "online": "在线", "email": "邮件", "social": "社交媒体", "store": "门店"}
CHANNELS = tuple(CHANNEL_NAMES)
_CONTENT = re.compile(f"[{CJK_IDEOGRAPHS}A-Za-z]")
MAX_TEXT_CHARS = 5000
FIELD_SIZE_LIMIT = 64 * 1024 * 1024
# How many rows a warning about many rows names (the count says how many there are).
SHOWN_ROWS = 5


@dataclass(frozen=True)
class Problem:
    """Something wrong with an input file, located as precisely as possible."""

    file: str
    row: int | None
    column: str | None
    message: str
    fatal: bool = True

    def __str__(self) -> str:
        where = [self.file]
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column {self.column}")
        return f"{', '.join(where)}: {self.message}"


@dataclass(frozen=True)
class LabeledRow:
    """One labeled complaint and where it came from."""

    text: str
    category: str
    subtype: str
    tier: str
    demand: str | None = None
    id: str = ""
    channel: str = ""
    created_at: str = ""
    file: str = ""
    row: int = 0

    @property
    def labels(self) -> tuple[str, str, str]:
        """(category, subtype, tier)."""
        return self.category, self.subtype, self.tier


@dataclass
class Dataset:
    """Rows that passed validation, the problems found, and what identifies the data."""

    rows: list[LabeledRow] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    files: list[dict[str, object]] = field(default_factory=list)
    # Rows (of `rows`) whose text the model cannot judge, with why (`model.predictor.text_issues`).
    unjudgeable: list[tuple[LabeledRow, tuple[str, ...]]] = field(default_factory=list)
    # Rows dropped as duplicates of an earlier one (same text, same labels), and rows of an export
    # left out because no agent reviewed them: each also a warning in `problems`.
    duplicates: int = 0
    unreviewed: int = 0

    @property
    def fatal(self) -> list[Problem]:
        """Problems that forbid training on this data."""
        return [problem for problem in self.problems if problem.fatal]

    @property
    def warnings(self) -> list[Problem]:
        """Problems that were handled (duplicates dropped) and are only reported."""
        return [problem for problem in self.problems if not problem.fatal]


class InputError(ValueError):
    """An input file that cannot be read as text; the message says why and where, not which file."""


# The first bytes of an OLE2 compound file: an Excel workbook of before 2007 (.xls), among others.
OLE2_MAGIC = bytes.fromhex("D0CF11E0A1B11AE1")


def decode_utf8(raw: bytes) -> str:
    """The text of a CSV file's bytes (a UTF-8 byte-order mark dropped); InputError naming the line
    and byte of the first one that is not UTF-8, or a UTF-16 file, or a workbook (ZIP or OLE2)."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InputError("UTF-16 text (Excel's 'Unicode text'); save the file as CSV UTF-8")
    if raw.startswith(b"PK\x03\x04"):  # a ZIP archive, which is what .xlsx, .ods and WPS's .et files are
        raise InputError("a spreadsheet workbook (or another ZIP archive), not CSV text; save it as CSV UTF-8")
    if raw.startswith(OLE2_MAGIC):  # Excel 97-2003's .xls (and old WPS .et, Word .doc)
        raise InputError(
            "an Excel 97-2003 workbook (.xls, an OLE2 compound file), not CSV text; "
            "open it in Excel or WPS and save it as CSV UTF-8"
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw[: error.start].count(b"\n") + 1
        message = f"not valid UTF-8 at line {line}, byte {error.start} ({error.reason})"
        if _reads_as_gbk(raw):  # Chinese UTF-8 text does not: its 3-byte characters break GBK's pairs
            message += "; it looks GBK-encoded (Excel's CSV on a Chinese Windows)"
        raise InputError(f"{message}; the file must be UTF-8: save it as CSV UTF-8") from None


def _reads_as_gbk(raw: bytes) -> bool:
    try:
        raw.decode("gb18030")
    except UnicodeDecodeError:
        return False
    return True


def label_spellings(taxonomy: Taxonomy) -> dict[str, dict[str, str]]:
    """Per label column, the code each other spelling of one stands for: the code in another case
    ("p1", "Product") and the Chinese name (产品问题, 一级（紧急）), as casefolded keys. A spelling
    that could stand for two codes is left out (it stays an error)."""
    entries = {
        "category": [(code, category.name) for code, category in taxonomy.categories.items()],
        "subtype": [(code, subtype.name) for code, subtype in taxonomy.subtypes.items()],
        "tier": [(code, tier.name) for code, tier in taxonomy.tiers.items()],
        "demand": [(code, demand.name) for code, demand in taxonomy.demands.items()],
    }
    spellings: dict[str, dict[str, str]] = {}
    for column, pairs in entries.items():
        found: dict[str, set[str]] = {}
        for code, name in pairs:
            for spelling in (code, name):
                found.setdefault(spelling.strip().casefold(), set()).add(code)
        spellings[column] = {spelling: codes.pop() for spelling, codes in found.items() if len(codes) == 1}
    return spellings


# Labels spelled otherwise than as their code, by file: (column, as written, code) -> the rows.
Respelled = dict[tuple[str, str, str], list[int]]


def _check_row(
    record: dict[str, str | None],
    where: tuple[str, int],
    taxonomy: Taxonomy,
    problems: list[Problem],
    skip: Sequence[str] = (),
    spellings: dict[str, dict[str, str]] | None = None,
    respelled: Respelled | None = None,
) -> LabeledRow | None:
    file, row = where
    before = len(problems)
    spellings = label_spellings(taxonomy) if spellings is None else spellings

    def fail(column: str, message: str) -> None:
        if column not in skip:
            problems.append(Problem(file, row, column, message))

    def label(column: str) -> str:
        """The code a label column holds: as written, or the code it spells otherwise."""
        value = (record.get(column) or "").strip()
        # (an exact code maps to itself, or is two codes' spelling and so not in `spellings`)
        code = spellings[column].get(value.casefold(), value)
        if code != value and respelled is not None:
            respelled.setdefault((column, value, code), []).append(row)
        return code

    text = (record.get("text") or "").strip()
    if not text:
        fail("text", "empty text")
    elif not _CONTENT.search(text):
        fail("text", f"no Chinese or Latin letters in {text[:30]!r}; not a complaint text")
    elif len(text) > MAX_TEXT_CHARS:
        fail("text", f"{len(text)} characters; the limit is {MAX_TEXT_CHARS}")
    category, subtype, tier = label("category"), label("subtype"), label("tier")
    if category not in taxonomy.categories:
        fail("category", f"{category!r} is not a category (expected one of {', '.join(taxonomy.categories)})")
    if subtype not in taxonomy.subtypes:
        fail("subtype", f"{subtype!r} is not a subtype (expected one of {', '.join(taxonomy.subtypes)})")
    elif category in taxonomy.categories and taxonomy.subtypes[subtype].category != category:
        expected = ", ".join(taxonomy.categories[category].subtypes)
        fail(
            "subtype",
            f"{subtype!r} is not a subtype of {category} (it belongs to "
            f"{taxonomy.subtypes[subtype].category}; expected one of {expected})",
        )
    if tier not in taxonomy.tiers:
        fail("tier", f"{tier!r} is not a tier (expected one of {', '.join(taxonomy.tiers)})")
    demand = label("demand") or None
    if demand is not None and demand not in taxonomy.demands:
        fail("demand", f"{demand!r} is not a demand (expected one of {', '.join(taxonomy.demands)})")
    channel = (record.get("channel") or "").strip()
    if channel and channel not in CHANNELS:
        fail("channel", f"{channel!r} is not a channel (expected one of {', '.join(CHANNELS)})")
    created_at = (record.get("created_at") or "").strip()
    if created_at and "\n" not in created_at:
        try:
            datetime.fromisoformat(created_at)
        except ValueError:
            example = "2026-10-31T09:22:00+08:00"
            fail("created_at", f"{created_at[:40]!r} is not an ISO 8601 date or time (such as {example})")
    if len(problems) > before:
        return None
    return LabeledRow(
        text=text,
        category=category,
        subtype=subtype,
        tier=tier,
        demand=demand,
        id=(record.get("id") or "").strip(),
        channel=channel,
        created_at=created_at,
        file=file,
        row=row,
    )


def check_record(
    record: dict[str, str | None],
    taxonomy: Taxonomy,
    file: str = "",
    row: int = 0,
    spellings: dict[str, dict[str, str]] | None = None,
) -> list[Problem]:
    """The problems one CSV record would raise when read for training (empty: it would be used);
    `spellings`: `label_spellings(taxonomy)`, made once by a caller checking many records."""
    problems: list[Problem] = []
    _check_row(record, (file, row), taxonomy, problems, spellings=spellings)
    return problems


# No export of complaints comes near this; a larger "file" is a mistake (or a device such as /dev/zero).
MAX_INPUT_BYTES = 1 << 30


def unreadable_input(path: Path) -> str | None:
    """Why `path` cannot be an input file (missing, not a regular file, larger than 1 GiB), or None.

    Checked before reading: a FIFO would block for ever, /dev/zero would fill the memory.
    """
    try:
        status = path.stat()
    except OSError as error:
        return f"cannot read the file ({error.strerror})"
    if not stat.S_ISREG(status.st_mode):
        return "not a regular file (a folder, a device or a pipe); give a CSV file"
    if status.st_size > MAX_INPUT_BYTES:
        return f"{status.st_size:,} bytes, more than an input file may have ({MAX_INPUT_BYTES:,})"
    return None


def allow_long_fields() -> None:
    """Let the csv module read fields up to FIELD_SIZE_LIMIT: a text longer than its default limit
    (128 KiB) is then reported as too long, by row, instead of stopping the reading of the file."""
    csv.field_size_limit(max(csv.field_size_limit(), FIELD_SIZE_LIMIT))


def read_input(path: Path) -> tuple[bytes, str]:
    """The bytes of an input CSV and their text, read the one way every command reads its input
    files; InputError (without the file's name) when the file is missing, not a regular file, too
    large, unreadable or not UTF-8 (naming the line)."""
    problem = unreadable_input(path)
    if problem is not None:
        raise InputError(problem)
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise InputError(f"cannot read the file ({error.strerror})") from None
    return raw, decode_utf8(raw)


def read_labeled_csv(path: Path, taxonomy: Taxonomy, dataset: Dataset | None = None) -> Dataset:
    """Read one CSV into `dataset` (a new one by default), checking every row."""
    dataset = dataset if dataset is not None else Dataset()
    problems = dataset.problems
    try:
        raw, content = read_input(path)
    except InputError as error:
        problems.append(Problem(str(path), None, None, str(error)))
        return dataset
    if content.lstrip()[:1] in ("{", "["):
        problems.append(Problem(str(path), None, None, "this looks like JSON; give a CSV file with a header row"))
        return dataset
    # Resolved: the model metadata keeps it, and a relative path would mean nothing read from elsewhere.
    dataset.files.append({"path": str(path.resolve()), "sha256": hashlib.sha256(raw).hexdigest(), "rows": 0})
    allow_long_fields()
    records = NumberedRecords(io.StringIO(content, newline=""))
    try:
        header = records.header
    except csv.Error as error:
        problems.append(Problem(str(path), records.row + 1, None, csv_error(error)))
        return dataset
    if not header:
        problems.append(Problem(str(path), None, None, "empty file: no header row"))
        return dataset
    # Each row of such a file is one field too: one problem for the file, not one per row besides.
    unusable = separator_problem(header) or repeated_columns(header)
    if unusable:
        problems.append(Problem(str(path), records.row, None, unusable))
        return dataset
    written = header
    header, renamed, unusable = read_columns(written)
    if unusable:
        problems.append(Problem(str(path), records.row, None, unusable))
        return dataset
    if renamed:
        problems.append(Problem(str(path), records.row, None, renamed_columns(renamed), fatal=False))
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        message = (
            f"missing required column(s) {', '.join(missing)} (header is {', '.join(written)}); "
            f"expected {expected_columns()}"
        )
        problems.append(Problem(str(path), records.row, None, message))
    text_column = find_column(written, "text")[0] or "text"  # as the file's header names it
    count = 0
    ids: dict[str, int] = {}
    unreviewed: list[int] = []  # their rows
    spellings = label_spellings(taxonomy)
    respelled: Respelled = {}
    try:
        for row, record in records:
            count += 1
            broken = broken_record(record, written, records.width, text_column=text_column)
            if broken is not None:
                problems.append(Problem(str(path), row, *broken))
                continue
            record = {name if name is None else renamed.get(name, name): value for name, value in record.items()}
            if (record.get("reviewed") or "").strip().lower() == "false":
                # An export of every ticket (`triage export --all`): an unreviewed row's labels are
                # the model's own suggestion, and training on them would teach it its mistakes.
                unreviewed.append(row)
                continue
            record_id = (record.get("id") or "").strip()
            if record_id and record_id in ids:
                message = f"id {record_id!r} is already used in row {ids[record_id]}"
                problems.append(Problem(str(path), row, "id", message))
            elif record_id:
                ids[record_id] = row
            # With a column missing, the others are still checked: one pass reports every problem.
            fields = {str(name): value for name, value in record.items()}  # no extra fields (checked above)
            checked = _check_row(fields, (str(path), row), taxonomy, problems, missing, spellings, respelled)
            if checked is not None and not missing:
                dataset.rows.append(checked)
    except csv.Error as error:  # reading cannot go on: the rest of the file is not checked
        problems.append(Problem(str(path), records.row + 1, None, csv_error(error)))
        unread = True  # a row was there, though it could not be read: not "no data rows"
    else:
        unread = False
    for column in ("category", "subtype", "tier", "demand"):
        spelled = [(value, code, rows) for (named, value, code), rows in respelled.items() if named == column]
        if spelled:
            each = ", ".join(
                f"{value!r} as {code} ({len(rows)} rows from row {rows[0]})" for value, code, rows in spelled
            )
            message = f"labels written otherwise than as their codes, read as the codes: {each}"
            problems.append(Problem(str(path), None, column, message, fatal=False))
    dataset.files[-1]["rows"] = count
    if count == 0 and not unread:
        problems.append(Problem(str(path), None, None, "no data rows"))
    elif unreviewed and len(unreviewed) == count and not unread:
        # Nothing of the file is left to train or to evaluate on: one problem, not a warning per row.
        message = (
            f"no agent reviewed any of its {count} rows (reviewed is false in every one): their labels are the "
            "model's own suggestions, so the file has no rows to use; export the reviewed tickets "
            "(triage export without --all)"
        )
        problems.append(Problem(str(path), None, "reviewed", message))
    elif unreviewed:
        # One warning for the file (an `export --all` of a month holds hundreds), not one per row.
        message = (
            f"{len(unreviewed)} of its {count} rows were reviewed by no agent (reviewed is false) and are left out: "
            f"their labels are the model's own suggestions ({shown_rows(unreviewed)})"
        )
        problems.append(Problem(str(path), None, "reviewed", message, fatal=False))
        dataset.unreviewed += len(unreviewed)
    return dataset


def shown_rows(rows: Sequence[int | str]) -> str:
    """The first `SHOWN_ROWS` of some row numbers, and how many more there are: "rows 2, 3 and 5",
    "rows 2, 3, 4, 5, 6 and 464 more"; a row may carry a note ("7 (= row 2)")."""
    first = ", ".join(map(str, rows[:SHOWN_ROWS]))
    if len(rows) == 1:
        return f"row {first}"
    if len(rows) > SHOWN_ROWS:
        return f"rows {first} and {len(rows) - SHOWN_ROWS} more"
    head, _, last = first.rpartition(", ")
    return f"rows {head} and {last}"


def column_key(name: str) -> str:
    """A column name as compared with the known ones: full-width letters as ASCII, case folded."""
    return unicodedata.normalize("NFKC", name).strip().casefold()


_KNOWN_COLUMNS = {
    column_key(name): column
    for column in (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)
    for name in (column, *CHINESE_COLUMN_NAMES.get(column, ()))
}


def read_columns(header: Sequence[str]) -> tuple[list[str], dict[str, str], str | None]:
    """The header as read: each name of a known column in another case or by its Chinese name
    (`CHINESE_COLUMN_NAMES`) replaced by the column's own; what was so read as what; and the
    problem of a header in which two names name the same column (None when there is none). Other
    names are kept (their columns are not read)."""
    columns = [_KNOWN_COLUMNS.get(column_key(name), name) for name in header]
    renamed = {name: column for name, column in zip(header, columns) if name != column}
    clashes = [
        [name for name, read in zip(header, columns) if read == column]
        for column in dict.fromkeys(columns)
        if column in _KNOWN_COLUMNS.values() and columns.count(column) > 1
    ]
    said = [
        f"{', '.join(names[:-1])} and {names[-1]} {'both' if len(names) == 2 else 'all'} name the column "
        f"{columns[header.index(names[0])]}"
        for names in clashes
    ]
    problem = f"{'; '.join(said)}: only one column may name it; delete or rename the others" if said else None
    return columns, renamed, problem


def renamed_columns(renamed: dict[str, str]) -> str:
    """The warning that says which column names were read as which columns (`renamed` as
    `read_columns` gives it)."""
    each = ", ".join(f"{name!r} as {column}" for name, column in renamed.items())
    return f"column names read as the columns they name: {each}"


def find_column(header: Sequence[str], column: str) -> tuple[str | None, str | None]:
    """The name by which `header` names `column`, read as `read_columns` reads it (None when no
    name does), and the problem of a header in which two names name it (None when there is none)."""
    columns, _, _ = read_columns(header)
    names = [name for name, read in zip(header, columns) if read == column]
    if len(names) > 1:
        return None, read_columns(names)[2]
    return (names[0] if names else None), None


def expected_columns() -> str:
    """The columns a labelled file has, with their Chinese names, as a missing column's problem names them."""

    def named(column: str) -> str:
        names = CHINESE_COLUMN_NAMES.get(column)
        return f"{column} ({' or '.join(names)})" if names else column

    required = ", ".join(map(named, REQUIRED_COLUMNS))
    return f"the columns {required}; optionally {', '.join(map(named, OPTIONAL_COLUMNS))}"


class NumberedRecords:
    """The records of a CSV under its header (names stripped), each with its spreadsheet row number.

    A text spanning lines is one row; a blank line is a row too, as a spreadsheet or an editor
    shows it (csv.DictReader skips blank lines without counting them). Records with more fields
    than the header keep the extra ones under the key None, as DictReader does; missing fields are None.
    """

    def __init__(self, stream: Iterable[str]) -> None:
        self._reader = csv.reader(stream, strict=True)  # a quote left open is an error, not a merge
        self.row = 0  # the last row read
        self.width = 0  # how many fields the record last yielded has (for field_count_problem)
        self._header: list[str] | None = None

    @property
    def header(self) -> list[str]:
        """The column names (empty for an empty file); reading it reads the header row."""
        if self._header is None:
            self._header = []
            for fields in self._reader:
                self.row += 1
                if fields:
                    self._header = [name.strip() for name in fields]
                    break
        return self._header

    def __iter__(self) -> Iterator[tuple[int, dict[str | None, Any]]]:
        header = self.header
        for fields in self._reader:
            self.row += 1
            if not fields:
                continue
            self.width = len(fields)
            fields = [cell_value(field) for field in fields]
            record: dict[str | None, Any] = dict.fromkeys(header)
            record.update(zip(header, fields))
            if len(fields) > len(header):
                record[None] = fields[len(header) :]
            yield self.row, record


def repeated_columns(header: Sequence[str]) -> str | None:
    """The problem of a header that names a column twice, or None (unnamed columns, which the
    training data's trailing commas make, are not read)."""
    repeated = sorted({name for name in header if header.count(name) > 1 and name})
    return f"column(s) {', '.join(repeated)} appear more than once" if repeated else None


def separator_problem(header: Sequence[str]) -> str | None:
    """The problem of a header row that is one field holding tabs or semicolons (a file saved with
    another separator, as Excel does under some regional settings), or None."""
    named = [name for name in header if name]
    signs = (("\t", "tabs"), (";", "semicolons"))
    separator = next((word for sign, word in signs if len(named) == 1 and sign in named[0]), None)
    if separator is None:
        return None
    return (
        f"the columns look separated by {separator} (header is {named[0]!r}): the file must be "
        "comma-separated; save it as CSV UTF-8 (comma-delimited)"
    )


def field_count_problem(header: Sequence[str], width: int) -> str | None:
    """The problem of a record of `width` fields under `header`, or None: more fields than columns,
    or fewer (unless those missing are only of unnamed columns, such as trailing commas make)."""
    if width > len(header):
        return f"more fields than the header has columns ({width} of {len(header)})"
    if any(header[width:]):
        return f"fewer fields than the header has columns ({width} of {len(header)})"
    return None


HEADER_AGAIN = "the header row again (two files pasted into one?); delete this row"


def repeats_header(record: dict[str | None, Any], header: Sequence[str]) -> bool:
    """Whether a record is the file's header row once more (its names, spaces around them aside)."""
    return any(header) and all((record.get(name) or "").strip() == name for name in header if name)


def broken_record(
    record: dict[str | None, Any], header: Sequence[str], width: int, text_column: str = "text"
) -> tuple[str | None, str] | None:
    """(column or None, problem) when a record of `width` fields is not a row of the file as its
    header describes: more or fewer fields than columns, the header row again, or a line break in
    a column other than the text (`text_column`, as the header names it)."""
    problem = field_count_problem(header, width)
    if problem is not None:
        return None, problem
    if repeats_header(record, header):
        return None, HEADER_AGAIN
    for column in header:
        value = record.get(column) or ""
        if column != text_column and ("\n" in value or "\r" in value):
            return column, "a line break in a field other than text: is a quote in the row above left open?"
    return None


def csv_error(error: csv.Error) -> str:
    """A csv module error in words an analyst can act on."""
    if "unexpected end of data" in str(error) or "expected after" in str(error):
        return (
            "a quote opened in this row is never closed, or a quoted field has text after its closing quote; "
            "close the quote, or double a quote inside a quoted field"
        )
    if "field larger than field limit" in str(error):
        return (
            f"a field longer than {FIELD_SIZE_LIMIT:,} characters (a text may have {MAX_TEXT_CHARS:,}); "
            "often a quote opened and never closed, which makes the rest of the file one field"
        )
    return f"malformed CSV ({error})"


def load_datasets(paths: Sequence[Path], taxonomy: Taxonomy) -> Dataset:
    """Read and check several CSVs; duplicates (same normalised text) are dropped and reported.

    A duplicate with the same labels is dropped (the first occurrence is kept), with one warning
    per file that counts its dropped rows and names the first `SHOWN_ROWS` with the row each
    repeats; the same text with different labels is fatal, row by row, since only a person can say
    which labels are right. Rows whose text the model cannot judge are kept, and listed in
    `unjudgeable` (see `unjudgeable_warning`).
    """
    dataset = Dataset()
    for path in paths:
        read_labeled_csv(path, taxonomy, dataset)
    seen: dict[str, LabeledRow] = {}
    kept: list[LabeledRow] = []
    dropped: dict[str, list[int | str]] = {}  # by file: its rows dropped, each with the row it repeats
    for row in dataset.rows:
        key = normalise(row.text)
        first = seen.get(key)
        if first is None:
            seen[key] = row
            kept.append(row)
            issues = text_issues(key)  # as the predictor sees the text (never over-long here: checked above)
            if not judgeable(issues):
                dataset.unjudgeable.append((row, issues))
        elif first.labels == row.labels:
            dataset.duplicates += 1
            repeated = f"row {first.row}" if first.file == row.file else f"{first.file}, row {first.row}"
            dropped.setdefault(row.file, []).append(f"{row.row} (= {repeated})")
        else:
            dataset.problems.append(
                Problem(
                    row.file,
                    row.row,
                    "text",
                    f"same text as {first.file}, row {first.row}, with other labels "
                    f"({'/'.join(row.labels)} vs {'/'.join(first.labels)}); fix one of them",
                )
            )
    for file, rows in dropped.items():
        # One warning for the file (a month's export that overlaps the last holds hundreds).
        counted = f"{len(rows)} {'row' if len(rows) == 1 else 'rows'}"
        message = f"dropped {counted} with the same text and labels as an earlier row: {shown_rows(rows)}"
        dataset.problems.append(Problem(file, None, "text", message, fatal=False))
    dataset.rows = kept
    return dataset


_ISSUE_WORDS = {
    "empty": "nothing left once normalised",
    "no_chinese": "no Chinese",
    "too_short": f"fewer than {MIN_CJK_CHARS} Chinese characters",
}


def unjudgeable_warning(unjudgeable: Sequence[tuple[LabeledRow, tuple[str, ...]]]) -> str | None:
    """One warning that counts the rows whose text the model cannot judge (English only, one
    character: what the predictor flags and classifies as the empty text) and names the first
    `SHOWN_ROWS` of them by file and row; None when there are none."""
    if not unjudgeable:
        return None
    counts = Counter(issues[0] for _, issues in unjudgeable)
    kinds = ", ".join(f"{count} with {_ISSUE_WORDS.get(issue, issue)}" for issue, count in counts.most_common())
    shown = "; ".join(f"{row.file}, row {row.row}" for row, _ in unjudgeable[:SHOWN_ROWS])
    more = f"; and {len(unjudgeable) - SHOWN_ROWS} more" if len(unjudgeable) > SHOWN_ROWS else ""
    return (
        f"{len(unjudgeable)} row(s) are texts the model cannot judge ({kinds}), which it classifies as it would "
        f"the empty text: {shown}{more}. They are used all the same (training on them teaches it little): "
        "check that they are complaints"
    )
