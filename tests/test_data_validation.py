"""Every validation error of the training data is reported with file, row and column."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import pytest

from model.taxonomy import Taxonomy
from training.data import load_datasets, unjudgeable_warning
from training.train import DataError, train

HEADER = "id,text,category,subtype,tier,demand,channel\n"
GOOD = "x1,快递三天都没送到，太慢了,logistics,late_delivery,P2,none,online\n"


def write(tmp_path: Path, name: str, body: str, header: str = HEADER) -> Path:
    path = tmp_path / name
    path.write_text(header + body, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("line", "column", "message"),
    [
        ("x2,手机坏了,gadget,malfunction,P2,none,phone\n", "category", "'gadget' is not a category"),
        ("x2,手机坏了,product,broken,P2,none,phone\n", "subtype", "'broken' is not a subtype"),
        ("x2,送晚了,product,late_delivery,P2,none,phone\n", "subtype", "not a subtype of product"),
        ("x2,手机坏了,product,malfunction,P0,none,phone\n", "tier", "'P0' is not a tier"),
        ("x2,手机坏了,product,malfunction,P2,money,phone\n", "demand", "'money' is not a demand"),
        ("x2,手机坏了,product,malfunction,P2,none,fax\n", "channel", "'fax' is not a channel"),
        ("x2,   ,product,malfunction,P2,none,phone\n", "text", "empty text"),
        ("x2,12345 !!!,product,malfunction,P2,none,phone\n", "text", "not a complaint text"),
    ],
)
def test_each_bad_value_is_located(tmp_path: Path, taxonomy: Taxonomy, line: str, column: str, message: str) -> None:
    path = write(tmp_path, "bad.csv", GOOD + line)
    dataset = load_datasets([path], taxonomy)
    assert [(p.file, p.row, p.column) for p in dataset.fatal] == [(str(path), 3, column)]
    assert message in str(dataset.fatal[0])
    assert len(dataset.rows) == 1


def test_every_problem_of_every_file_is_reported_at_once(tmp_path: Path, taxonomy: Taxonomy) -> None:
    first = write(tmp_path, "a.csv", GOOD + "x2,手机坏了,gadget,malfunction,P9,none,phone\n")
    second = write(tmp_path, "b.csv", "y1,,product,malfunction,P2,none,phone\n")
    dataset = load_datasets([first, second], taxonomy)
    located = {(Path(p.file).name, p.row, p.column) for p in dataset.fatal}
    assert located == {("a.csv", 3, "category"), ("a.csv", 3, "tier"), ("b.csv", 2, "text")}


def test_rows_are_numbered_as_a_spreadsheet_shows_them_when_a_text_spans_lines(
    tmp_path: Path, taxonomy: Taxonomy
) -> None:
    body = GOOD + 'x2,"第一行\n第二行\n手机坏了",product,malfunction,P2,none,phone\n'
    path = write(tmp_path, "lines.csv", body + "x3,手机坏了,product,malfunction,P9,none,phone\n")
    (problem,) = load_datasets([path], taxonomy).fatal
    assert (problem.row, problem.column) == (4, "tier")  # the file's line 6 is the sheet's row 4


@pytest.mark.parametrize(
    ("line", "column", "message"),
    [
        ("x2,手机坏了,product,malfunction,P2,none,phone,yesterday\n", "created_at", "not an ISO 8601 date"),
        ("x1,手机坏了,product,malfunction,P2,none,phone,2026-10-31\n", "id", "id 'x1' is already used in row 2"),
    ],
)
def test_optional_columns_are_checked(tmp_path: Path, taxonomy: Taxonomy, line: str, column: str, message: str) -> None:
    header = HEADER.rstrip("\n") + ",created_at\n"
    path = write(tmp_path, "opt.csv", GOOD.rstrip("\n") + ",2026-10-31T09:22:00+08:00\n" + line, header=header)
    (problem,) = load_datasets([path], taxonomy).fatal
    assert (problem.row, problem.column) == (3, column) and message in problem.message


@pytest.mark.parametrize("column", ["text", "channel"])
def test_a_quote_never_closed_is_found_where_it_opens_not_silently_swallowing_rows(
    tmp_path: Path, taxonomy: Taxonomy, column: str
) -> None:
    opened = (
        'x2,"手机坏了,product,malfunction,P2,none,phone\n'
        if column == "text"
        else ('x2,手机坏了,product,malfunction,P2,none,"phone\n')
    )
    path = write(tmp_path, "quote.csv", GOOD + opened + GOOD.replace("x1", "x3") + GOOD.replace("x1", "x4"))
    dataset = load_datasets([path], taxonomy)
    (problem,) = dataset.fatal
    # The row where the quote opens; which column, the csv module cannot tell.
    assert problem.row == 3 and "never closed" in problem.message


def test_a_field_past_the_readers_limit_is_said_so_with_its_row(
    tmp_path: Path, taxonomy: Taxonomy, monkeypatch: pytest.MonkeyPatch
) -> None:
    limit = csv.field_size_limit()
    monkeypatch.setattr("training.data.FIELD_SIZE_LIMIT", 10_000)  # 64 MiB in use: a file that big is slow
    csv.field_size_limit(10_000)
    try:
        path = write(tmp_path, "long.csv", GOOD + f"x2,{'快' * 12_000},product,malfunction,P2,none,phone\n")
        (problem,) = load_datasets([path], taxonomy).fatal
    finally:
        csv.field_size_limit(limit)
    assert problem.row == 3 and "a field longer than 10,000 characters (a text may have 5,000)" in problem.message


def test_a_quote_never_closed_in_the_only_data_row_is_the_one_problem(tmp_path: Path, taxonomy: Taxonomy) -> None:
    path = write(tmp_path, "only.csv", 'x1,"快递三天都没送到,logistics,late_delivery,P2,none,online\n')
    dataset = load_datasets([path], taxonomy)
    assert [(problem.row, "never closed" in problem.message) for problem in dataset.problems] == [(2, True)]
    # a file with a header alone has no data rows
    empty = load_datasets([write(tmp_path, "header.csv", "")], taxonomy)
    assert [problem.message for problem in empty.problems] == ["no data rows"]


def test_a_repeated_column_name_is_one_problem_of_the_header(tmp_path: Path, taxonomy: Taxonomy) -> None:
    path = write(tmp_path, "dup.csv", GOOD.rstrip("\n") + ",\n", header=HEADER.rstrip("\n") + ",text\n")
    (problem,) = load_datasets([path], taxonomy).fatal
    assert problem.row == 1 and "text appear more than once" in problem.message


def test_the_header_row_repeated_in_the_file_is_one_problem_of_its_row(tmp_path: Path, taxonomy: Taxonomy) -> None:
    path = write(tmp_path, "pasted.csv", GOOD + HEADER + GOOD.replace("x1", "x2"))
    (problem,) = load_datasets([path], taxonomy).fatal
    assert (problem.row, problem.column) == (3, None) and "the header row again" in problem.message


def test_unnamed_columns_of_trailing_commas_are_not_read(tmp_path: Path, taxonomy: Taxonomy) -> None:
    path = write(tmp_path, "trailing.csv", GOOD.rstrip("\n") + ",,\n", header=HEADER.rstrip("\n") + ",,\n")
    dataset = load_datasets([path], taxonomy)
    assert dataset.problems == [] and len(dataset.rows) == 1


def test_a_text_beyond_the_csv_field_limit_is_one_row_problem_and_reading_goes_on(
    tmp_path: Path, taxonomy: Taxonomy
) -> None:
    huge = "x2," + "很" * 150_000 + ",product,malfunction,P2,none,phone\n"
    path = write(tmp_path, "long.csv", GOOD + huge + "x3,手机坏了,product,malfunction,PX,none,phone\n")
    located = [(p.row, p.column) for p in load_datasets([path], taxonomy).fatal]
    assert located == [(3, "text"), (4, "tier")]


def test_missing_required_columns_are_named(tmp_path: Path, taxonomy: Taxonomy) -> None:
    path = write(tmp_path, "cols.csv", "x1,快递慢,logistics\nx2,手机坏了,gadget\n", header="id,text,category\n")
    problem, other = load_datasets([path], taxonomy).fatal
    assert problem.row == 1 and "subtype, tier" in problem.message
    # the columns that are there are still checked
    assert (other.row, other.column) == (3, "category")


def test_columns_named_in_another_case_or_by_their_chinese_names_are_read_with_one_warning(
    tmp_path: Path, taxonomy: Taxonomy
) -> None:
    # A colleague's sheet headed as the business names the columns, or in capitals: refused
    # ("missing required column(s) text, category, subtype, tier") without a hint of the names.
    body = 'x1,"快递三天没到\n第二行",logistics,late_delivery,P2,none,online,2026-10-08T09:30:00+08:00\n'
    headers = {
        "chinese.csv": "编号,文本,类别,子类,等级,诉求,渠道,创建时间\n",
        "variants.csv": "ID, Text ,类别,子类型,紧急程度,Demand,ｃｈａｎｎｅｌ,CREATED_AT\n",
    }
    for name, header in headers.items():
        path = write(tmp_path, name, body, header=header)
        dataset = load_datasets([path], taxonomy)
        (row,) = dataset.rows  # the text's line break is no "line break in a field other than text"
        assert (row.id, row.text, row.demand) == ("x1", "快递三天没到\n第二行", "none")
        assert row.labels == ("logistics", "late_delivery", "P2")
        assert (row.channel, row.created_at) == ("online", "2026-10-08T09:30:00+08:00")
        (warning,) = dataset.problems
        assert not warning.fatal and (warning.file, warning.row, warning.column) == (str(path), 1, None)
        assert warning.message.startswith("column names read as the columns they name: ")
    (warning,) = dataset.problems
    assert warning.message.endswith(
        "'ID' as id, 'Text' as text, '类别' as category, '子类型' as subtype, '紧急程度' as tier, 'Demand' as demand, "
        "'ｃｈａｎｎｅｌ' as channel, 'CREATED_AT' as created_at"
    )
    # an export's flag in capitals still leaves out the rows no agent reviewed
    body = "TS-1,快递三天都没送到,logistics,late_delivery,P2,FALSE\nTS-2,客服直接挂我电话,service,attitude,P2,TRUE\n"
    export = write(tmp_path, "export.csv", body, header="ticket_no,TEXT,CATEGORY,SUBTYPE,TIER,REVIEWED\n")
    dataset = load_datasets([export], taxonomy)
    assert [row.text for row in dataset.rows] == ["客服直接挂我电话"] and dataset.unreviewed == 1
    # two names of one column: which holds the texts? An error, before any row is read
    clash = write(
        tmp_path,
        "clash.csv",
        "x1,快递三天没到,同上,logistics,late_delivery,P2\n",
        "id,text,文本,category,subtype,tier\n",
    )
    (problem,) = load_datasets([clash], taxonomy).problems
    assert problem.fatal and problem.row == 1
    assert problem.message.startswith("text and 文本 both name the column text: only one column may name it")
    # a name that is none of them: the error names the columns expected, with their Chinese names
    unknown = write(
        tmp_path, "unknown.csv", "x1,快递三天没到,logistics,late_delivery,P2\n", "编号,内容,类别,子类,等级\n"
    )
    (problem,) = load_datasets([unknown], taxonomy).fatal
    assert problem.row == 1 and problem.message.startswith(
        "missing required column(s) text (header is 编号, 内容, 类别, 子类, 等级); expected the columns text (文本), "
        "category (类别), subtype (子类 or 子类型), tier (等级 or 紧急程度); optionally demand (诉求)"
    )


def test_bad_encoding_names_the_line(tmp_path: Path, taxonomy: Taxonomy) -> None:
    path = tmp_path / "gbk.csv"
    path.write_bytes((HEADER + GOOD + "x2,手机坏了,product,malfunction,P2,none,phone\n").encode("gbk"))
    (problem,) = load_datasets([path], taxonomy).fatal
    assert "not valid UTF-8 at line 2" in problem.message


def test_a_utf8_byte_order_mark_is_accepted(tmp_path: Path, taxonomy: Taxonomy) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes((HEADER + GOOD).encode("utf-8-sig"))
    dataset = load_datasets([path], taxonomy)
    assert not dataset.problems and len(dataset.rows) == 1


def test_extra_fields_empty_and_missing_files(tmp_path: Path, taxonomy: Taxonomy) -> None:
    extra = write(tmp_path, "extra.csv", GOOD + "x2,手机坏了,product,malfunction,P2,none,phone,oops\n")
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    header_only = write(tmp_path, "header.csv", "")
    problems = load_datasets([extra, empty, header_only, tmp_path / "missing.csv"], taxonomy).fatal
    messages = [str(p) for p in problems]
    assert any("extra.csv, row 3" in m and "more fields" in m for m in messages)
    assert any("empty.csv" in m and "no header" in m for m in messages)
    assert any("header.csv" in m and "no data rows" in m for m in messages)
    assert any("missing.csv" in m and "cannot read" in m for m in messages)


def test_a_row_with_fewer_or_more_fields_than_the_header_says_so_with_the_counts(
    tmp_path: Path, taxonomy: Taxonomy
) -> None:
    short = "x2,手机坏了,product,malfunction\n"  # the tier and what follows are missing: 4 fields of 7
    long = "x3,手机坏了,product,malfunction,P2,none,phone,oops\n"
    path = write(tmp_path, "fields.csv", GOOD + short + long)
    dataset = load_datasets([path], taxonomy)
    assert [str(problem) for problem in dataset.fatal] == [
        f"{path}, row 3: fewer fields than the header has columns (4 of 7)",
        f"{path}, row 4: more fields than the header has columns (8 of 7)",
    ]
    assert len(dataset.rows) == 1


def test_a_row_without_the_fields_of_unnamed_trailing_columns_is_read(tmp_path: Path, taxonomy: Taxonomy) -> None:
    path = write(tmp_path, "trailing.csv", GOOD, header=HEADER.replace("\n", ",,\n"))  # a header's trailing commas
    dataset = load_datasets([path], taxonomy)
    assert not dataset.problems and len(dataset.rows) == 1


def test_duplicates_across_files_are_dropped_and_reported(tmp_path: Path, taxonomy: Taxonomy) -> None:
    first = write(tmp_path, "base.csv", GOOD)
    # The same text after normalisation (full-width comma) with the same labels.
    second = write(tmp_path, "month.csv", "m1,快递三天都没送到，太慢了 ,logistics,late_delivery,P2,none,online\n")
    dataset = load_datasets([first, second], taxonomy)
    assert not dataset.fatal and len(dataset.rows) == 1 and dataset.duplicates == 1
    (warning,) = dataset.warnings
    assert str(warning) == (
        f"{second}, column text: dropped 1 row with the same text and labels as an earlier row: "
        f"row 2 (= {first}, row 2)"
    )


def test_duplicates_are_one_warning_per_file_naming_the_first_rows_and_the_rows_they_repeat(
    tmp_path: Path, taxonomy: Taxonomy
) -> None:
    # A month's export that overlaps the last one: a warning per repeated row (126 of them on the
    # sample export with the team corpus, 20 shown) hid every other warning.
    texts = [f"第{number}次投诉：快递三天都没送到，太慢了" for number in range(8)]
    base = write(
        tmp_path,
        "base.csv",
        "".join(f"b{i},{text},logistics,late_delivery,P2,none,online\n" for i, text in enumerate(texts)),
    )
    again = [f"m{i},{text},logistics,late_delivery,P2,none,online\n" for i, text in enumerate(texts)]
    # rows 2-9 repeat base.csv's rows 2-9; row 10 is new, and row 11 repeats it
    own = "m8,客服态度太差，直接挂我电话,service,attitude,P2,none,phone\n"
    month = write(tmp_path, "month.csv", "".join(again) + own + own.replace("m8", "m9"))
    dataset = load_datasets([base, month], taxonomy)
    assert not dataset.fatal and len(dataset.rows) == 9 and dataset.duplicates == 9
    (warning,) = dataset.warnings
    assert (warning.file, warning.row, warning.column) == (str(month), None, "text")
    assert warning.message == (
        "dropped 9 rows with the same text and labels as an earlier row: "
        f"rows 2 (= {base}, row 2), 3 (= {base}, row 3), 4 (= {base}, row 4), 5 (= {base}, row 5), "
        f"6 (= {base}, row 6) and 4 more"
    )
    # the repeat of a row of the same file names that row alone
    (warning,) = load_datasets([month], taxonomy).warnings
    assert warning.message.endswith("dropped 1 row with the same text and labels as an earlier row: row 11 (= row 10)")


def test_the_same_text_with_other_labels_is_fatal(tmp_path: Path, taxonomy: Taxonomy) -> None:
    first = write(tmp_path, "base.csv", GOOD)
    second = write(
        tmp_path,
        "month.csv",
        "m1,快递三天都没送到，太慢了,logistics,late_delivery,P1,none,online\n"
        "m2,快递三天都没送到，太慢了,logistics,late_delivery,P2,none,online\n"
        "m3,快递三天都没送到，太慢了,logistics,late_delivery,P3,none,online\n",
    )
    dataset = load_datasets([first, second], taxonomy)
    # each row of other labels is its own fatal problem, naming the row it contradicts; the exact
    # repeat between them is dropped with the one warning of its file
    assert [str(problem) for problem in dataset.fatal] == [
        f"{second}, row {row}, column text: same text as {first}, row 2, with other labels "
        f"(logistics/late_delivery/{tier} vs logistics/late_delivery/P2); fix one of them"
        for row, tier in ((2, "P1"), (4, "P3"))
    ]
    (warning,) = dataset.warnings
    assert warning.message.endswith(f"as an earlier row: row 3 (= {first}, row 2)")


def test_training_on_bad_data_writes_nothing(tmp_path: Path, taxonomy: Taxonomy) -> None:
    path = write(tmp_path, "bad.csv", GOOD + "x2,手机坏了,gadget,malfunction,P2,none,phone\n")
    registry = tmp_path / "models"
    with pytest.raises(DataError) as error:
        train([path], taxonomy, registry)
    assert "bad.csv, row 3, column category" in str(error.value)
    assert not registry.exists()


def test_training_without_any_row_of_a_subtype_is_refused(tmp_path: Path, taxonomy: Taxonomy) -> None:
    path = write(tmp_path, "few.csv", GOOD * 1)
    with pytest.raises(DataError, match="no training rows for subtype 'malfunction'"):
        train([path], taxonomy, tmp_path / "models", eval_data=path)


def test_a_multi_line_text_with_many_commas_on_a_line_is_not_taken_for_an_open_quote(
    tmp_path: Path, taxonomy: Taxonomy
) -> None:
    pasted = (
        'x2,"客户邮件原文：\nHi, order A1, B2, C3, D4, E5, F6, G7 never arrived, thanks,\n请尽快处理",'
        "logistics,late_delivery,P2,none,email\n"
    )
    after = "x3,手机用了一周就总是死机,product,malfunction,P2,none,phone\n"
    path = write(tmp_path, "pasted.csv", GOOD + pasted + after)
    dataset = load_datasets([path], taxonomy)
    assert not dataset.fatal, dataset.fatal
    assert [row.subtype for row in dataset.rows] == ["late_delivery", "late_delivery", "malfunction"]
    assert "G7 never arrived" in dataset.rows[1].text


def test_row_numbers_count_blank_lines_as_a_spreadsheet_shows_them(tmp_path: Path, taxonomy: Taxonomy) -> None:
    bad = "x3,手机用了一周就总是死机,product,malfunction,PX,none,phone\n"
    path = write(tmp_path, "blank.csv", GOOD + "\n\n" + bad)
    (problem,) = load_datasets([path], taxonomy).fatal
    assert (problem.row, problem.column) == (5, "tier")


def test_a_utf16_json_or_workbook_file_says_what_it_is(tmp_path: Path, taxonomy: Taxonomy) -> None:
    utf16 = tmp_path / "unicode.csv"
    utf16.write_text(HEADER + GOOD, encoding="utf-16")
    (problem,) = load_datasets([utf16], taxonomy).fatal
    assert "UTF-16" in problem.message and "CSV UTF-8" in problem.message
    as_json = tmp_path / "rows.json"
    as_json.write_text('[{"text": "快递慢", "category": "logistics"}]', encoding="utf-8")
    (problem,) = load_datasets([as_json], taxonomy).fatal
    assert "looks like JSON" in problem.message
    workbook = tmp_path / "export.csv"  # an .xlsx renamed: a ZIP archive
    with zipfile.ZipFile(workbook, "w") as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
    (problem,) = load_datasets([workbook], taxonomy).fatal
    assert "a spreadsheet workbook (or another ZIP archive), not CSV text; save it as CSV UTF-8" in problem.message


def test_a_file_separated_by_semicolons_or_tabs_is_one_problem_not_one_per_row(
    tmp_path: Path, taxonomy: Taxonomy
) -> None:
    # Excel under a European regional setting writes semicolons: each row's commas (in the texts,
    # "3,5 元" …) made it "more fields than the header has columns" besides, ~30 lines for 30 rows.
    rows = [f"x{i};到货第{i}天就坏了, 客服说要等, 一直没人管;product;malfunction;P2" for i in range(30)]
    for sign, word in ((";", "semicolons"), ("\t", "tabs")):
        body = "".join(row.replace(";", sign) + "\n" for row in rows)
        path = write(tmp_path, f"{word}.csv", body, header=f"id{sign}text{sign}category{sign}subtype{sign}tier\n")
        (problem,) = load_datasets([path], taxonomy).problems
        assert (problem.file, problem.row, problem.column) == (str(path), 1, None)
        shown = sign.replace("\t", "\\t")  # the header as Python writes it: a tab shown as \t
        assert problem.message.startswith(f"the columns look separated by {word} (header is 'id{shown}text")
        assert "the file must be comma-separated" in problem.message
        # the monthly report reads an export the same way
        from training.monthly import ExportError, read_export

        with pytest.raises(ExportError, match=f"row 1: the columns look separated by {word}"):
            read_export(path)


def test_an_excel_97_2003_workbook_is_named_as_such(tmp_path: Path, taxonomy: Taxonomy) -> None:
    # An OLE2 compound file's header (its sectors follow): what Excel writes as .xls, here renamed .csv.
    header = bytes.fromhex("D0CF11E0A1B11AE1") + bytes(16) + bytes.fromhex("3E000300FEFF0900") + bytes(488)
    for name in ("export.xls", "export.csv"):
        workbook = tmp_path / name
        workbook.write_bytes(header + b"\xff" * 1024)
        (problem,) = load_datasets([workbook], taxonomy).fatal
        assert str(problem) == (
            f"{workbook}: an Excel 97-2003 workbook (.xls, an OLE2 compound file), not CSV text; "
            "open it in Excel or WPS and save it as CSV UTF-8"
        )
        assert not load_datasets([workbook], taxonomy).files  # nothing recorded of it


def test_a_quote_closed_in_the_wrong_place_does_not_merge_two_rows(tmp_path: Path, taxonomy: Taxonomy) -> None:
    merged = (
        'x2,"手机用了一周就总是死机,product,malfunction,P2,none,phone\n'
        'x3,"快递丢了",logistics,wrong_missing_item,P2,none,phone\n'
    )
    (problem,) = load_datasets([write(tmp_path, "merged.csv", GOOD + merged)], taxonomy).fatal
    assert problem.row == 3 and "never closed" in problem.message
    legitimate = 'x2,"客户来电：\n手机用了一周就总是死机, 请尽快处理",product,malfunction,P2,none,phone\n'
    dataset = load_datasets([write(tmp_path, "fine.csv", GOOD + legitimate)], taxonomy)
    assert not dataset.fatal and len(dataset.rows) == 2


def test_rows_of_an_export_that_no_agent_reviewed_are_left_out(taxonomy: Taxonomy) -> None:
    import csv

    sample = Path(__file__).resolve().parent.parent / "data" / "sample_export.csv"
    with sample.open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    reviewed = sum(row["reviewed"] == "true" for row in rows)
    assert 0 < reviewed < len(rows)
    dataset = load_datasets([sample], taxonomy)
    assert dataset.unreviewed == len(rows) - reviewed
    assert len(dataset.rows) + dataset.duplicates == reviewed
    # Said once for the file (469 warnings, one per row, hid every other one), with the first rows.
    (left_out,) = [problem for problem in dataset.problems if problem.column == "reviewed"]
    first = [str(number) for number, row in enumerate(rows, start=2) if row["reviewed"] == "false"][:5]
    assert not left_out.fatal and (left_out.file, left_out.row) == (str(sample), None)
    assert left_out.message == (
        f"{len(rows) - reviewed} of its {len(rows)} rows were reviewed by no agent (reviewed is false) and are left "
        f"out: their labels are the model's own suggestions (rows {', '.join(first)} and {len(rows) - reviewed - 5} "
        "more)"
    )


def test_rows_the_model_cannot_judge_are_kept_and_listed_with_why(tmp_path: Path, taxonomy: Taxonomy) -> None:
    body = (
        GOOD
        + "x2,My parcel never arrived and nobody answers,logistics,late_delivery,P2,none,email\n"
        + "x3,慢,logistics,late_delivery,P3,none,online\n"
        + "x4,手机 broken,product,malfunction,P2,none,phone\n"
        + "x5,手机坏了没人管,product,malfunction,P2,none,phone\n"
    )
    path = write(tmp_path, "short.csv", body)
    dataset = load_datasets([path], taxonomy)
    assert not dataset.problems and len(dataset.rows) == 5  # nothing refused, nothing dropped
    assert [(row.row, issues) for row, issues in dataset.unjudgeable] == [
        (3, ("no_chinese",)),
        (4, ("too_short",)),
        (5, ("too_short",)),
    ]
    # the same notion as the predictor's: each of them is flagged there, the others are not
    from model.predictor import text_issues
    from model.text import normalise

    flagged = {row.row for row in dataset.rows if text_issues(normalise(row.text))}
    assert flagged == {3, 4, 5}
    warning = unjudgeable_warning(dataset.unjudgeable)
    assert warning is not None and warning.startswith(
        "3 row(s) are texts the model cannot judge (2 with fewer than 4 Chinese characters, 1 with no Chinese)"
    )
    assert f"{path}, row 3; {path}, row 4; {path}, row 5." in warning and "more" not in warning
    assert unjudgeable_warning([]) is None


def test_an_export_no_agent_reviewed_any_row_of_is_one_fatal_problem(tmp_path: Path, taxonomy: Taxonomy) -> None:
    # `triage export --all` of a month in which no agent reviewed a ticket: every row is the model's
    # own suggestion, so the file has nothing to train or evaluate on. Said once, for the file.
    header = "ticket_no,text,category,subtype,tier,reviewed\n"
    body = (
        "TS-1,快递三天都没送到，打电话也没人接,logistics,late_delivery,P2,false\n"
        "TS-2,收到的杯子碎了一地，包装太简陋,logistics,damaged_package,P2,FALSE\n"
    )
    path = write(tmp_path, "all.csv", body, header=header)
    dataset = load_datasets([path], taxonomy)
    assert not dataset.rows
    (problem,) = dataset.problems
    assert problem.fatal and (problem.file, problem.row, problem.column) == (str(path), None, "reviewed")
    assert "no agent reviewed any of its 2 rows" in problem.message and "without --all" in problem.message
    # one reviewed row is enough to use the file: the others are left out, with one warning
    partly = write(tmp_path, "partly.csv", body + "TS-3,客服态度太差，直接挂我电话,service,attitude,P2,true\n", header)
    dataset = load_datasets([partly], taxonomy)
    assert not dataset.fatal and len(dataset.rows) == 1
    (warning,) = dataset.warnings
    assert (warning.row, warning.column) == (None, "reviewed") and dataset.unreviewed == 2
    assert warning.message.startswith("2 of its 3 rows were reviewed by no agent")
    assert warning.message.endswith("(rows 2 and 3)")


def test_labels_in_another_case_or_as_their_chinese_names_are_read_as_the_codes(
    tmp_path: Path, taxonomy: Taxonomy
) -> None:
    # A colleague's sheet: tiers typed in lower case, codes in capitals, or the names the business
    # uses. Each was refused row by row (600 rows, 1,200 errors); now read as its code, one warning
    # per column naming what was read as what.
    body = (
        "x1,快递三天都没送到，太慢了,LOGISTICS,late_delivery,p2,none,online\n"
        "x2,客服直接挂我电话，态度极差,服务问题,态度恶劣,一级（紧急）,道歉,phone\n"
        "x3, 收到的杯子碎了一地，包装太简陋 ,logistics, Damaged_Package ,P2,退款,online\n"
    )
    path = write(tmp_path, "colleague.csv", body)
    dataset = load_datasets([path], taxonomy)
    assert not dataset.fatal
    assert [(row.category, row.subtype, row.tier, row.demand) for row in dataset.rows] == [
        ("logistics", "late_delivery", "P2", "none"),
        ("service", "attitude", "P1", "apology"),
        ("logistics", "damaged_package", "P2", "refund"),
    ]
    said = {problem.column: problem.message for problem in dataset.warnings}
    assert all(problem.file == str(path) and problem.row is None for problem in dataset.warnings)
    assert said["category"].endswith(
        "'LOGISTICS' as logistics (1 rows from row 2), '服务问题' as service (1 rows from row 3)"
    )
    assert "'p2' as P2 (1 rows from row 2), '一级（紧急）' as P1 (1 rows from row 3)" in said["tier"]
    assert "'Damaged_Package' as damaged_package (1 rows from row 4)" in said["subtype"]
    assert set(said) == {"category", "subtype", "tier", "demand"}
    # a spelling that two codes share stays an error: here a subtype named like another's code
    from dataclasses import replace

    subtypes = dict(taxonomy.subtypes)
    subtypes["cosmetic"] = replace(subtypes["cosmetic"], name="Other")
    clashing = replace(taxonomy, subtypes=subtypes)
    other = write(tmp_path, "other.csv", "x1,问了三次都没人告诉我怎么注销账号,other,OTHER,P3,none,email\n")
    (problem,) = load_datasets([other], clashing).fatal
    assert (problem.row, problem.column) == (2, "subtype") and "'OTHER' is not a subtype" in problem.message
    exact = write(tmp_path, "exact.csv", "x1,问了三次都没人告诉我怎么注销账号,other,other,P3,none,email\n")
    assert not load_datasets([exact], clashing).problems
