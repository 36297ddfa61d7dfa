"""End to end through the `triage` command line: train → evaluate → predict on the sample data."""

from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
from sklearn.metrics import accuracy_score, f1_score
from typer.testing import CliRunner

from model.artifact import load_model
from model.files import with_umask
from model.taxonomy import Taxonomy
from model.text import mask_pii
from training.cli import app
from training.data import load_datasets
from training.registry import Registry
from training.spreadsheet import as_text_cell
from training.train import DEFAULT_SAMPLE, TEAM_CORPUS, percent, split_rows

runner = CliRunner()


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A registry with one version trained by `triage train`, and what the command printed."""
    root = tmp_path_factory.mktemp("models")
    result = runner.invoke(app, ["train", "--out", str(root)])
    assert result.exit_code == 0, result.output
    return root, result.output


@pytest.fixture(scope="module")
def registry(trained: tuple[Path, str]) -> Path:
    return trained[0]


def test_train_shows_the_progress_of_the_fit_sub_steps(trained: tuple[Path, str]) -> None:
    # Besides validate, fit, evaluate, refit, save: a second bar counts the fit's own sub-steps
    # (the features, each head, each calibration fold), which take most of the time on a large file.
    output = trained[1]
    assert "done" in output and "5/5" in output
    assert "fit: done" in output and "20/20" in output


def test_train_writes_a_complete_version_and_makes_the_first_one_current(registry: Path) -> None:
    (version,) = [info for info in Registry(registry).versions()]
    assert version.current
    names = ("model.joblib", "metadata.json", "report.md", "confusion_category.png", "confusion_subtype.png")
    for name in (*names, "reliability.png"):
        assert (version.path / name).is_file()
    metadata = version.metadata
    assert metadata["training_data"]["files"][0]["path"] == str(DEFAULT_SAMPLE)
    assert len(metadata["training_data"]["files"][0]["sha256"]) == 64
    assert metadata["evaluation"]["rows"] > 50
    report = (version.path / "report.md").read_text(encoding="utf-8")
    assert "macro-F1 (95 % interval)" in report and "| malfunction |" in report
    assert "![reliability](reliability.png)" in report
    assert "**Warning:**" not in report  # 20 % of the sample held out: at least 5 rows of each class
    # Readable by a service running as another user, as the umask allows (mkdtemp alone makes 0700).
    assert version.path.stat().st_mode & 0o777 == with_umask(0o777)
    assert (registry / "CURRENT").stat().st_mode & 0o777 == with_umask(0o666)


def test_evaluate_json_prints_one_object_with_every_head(registry: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["evaluate", "--model", "current", "--data", str(DEFAULT_SAMPLE), "--json", "--registry", str(registry)]
    )
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    with DEFAULT_SAMPLE.open(encoding="utf-8") as stream:
        assert payload["n"] == sum(1 for _ in csv.DictReader(stream))
    # the default model trained on every row of the sample (refit): said, and counted
    assert payload["rows_seen_in_training"] == payload["n"]
    assert f"{payload['n']} of the {payload['n']} rows of {DEFAULT_SAMPLE} are texts version" in result.stderr
    assert "these figures are not held-out accuracy" in result.stderr
    unseen = tmp_path / "unseen.csv"
    unseen.write_text(
        "text,category,subtype,tier\n"
        "快递员把包裹扔在小区门口就走了，电话也不接，东西淋湿了,logistics,courier_service,P2\n"
        "新买的热水器用了三天就不出热水，售后一直推脱不给上门,product,malfunction,P2\n",
        encoding="utf-8",
    )
    fresh = runner.invoke(
        app, ["evaluate", "--model", "current", "--data", str(unseen), "--json", "--registry", str(registry)]
    )
    assert fresh.exit_code == 0, fresh.output
    assert json.loads(fresh.stdout)["rows_seen_in_training"] == 0 and "not held-out accuracy" not in fresh.stderr
    # two rows are no measure: said, with the bootstrap's intervals
    said = " ".join(fresh.stderr.split())
    assert said.count("warning:") == 1 and "warning: the held-out figures rest on 2 rows (fewer than 30)" in said
    # worked out here from the model's own predictions, with scikit-learn's metrics
    model, _ = load_model(Registry(registry).path_of("current"))
    rows = load_datasets([DEFAULT_SAMPLE], model.taxonomy).rows
    predicted = model.predict_many([row.text for row in rows])
    for head in ("category", "subtype", "tier"):
        truth = [getattr(row, head) for row in rows]
        guess = [getattr(prediction, head).code for prediction in predicted]
        assert payload[head]["accuracy"] == pytest.approx(accuracy_score(truth, guess), abs=1e-3)
        assert payload[head]["macro_f1"] == pytest.approx(f1_score(truth, guess, average="macro"), abs=1e-3)
        low, high = payload[head]["macro_f1_interval"]  # a bootstrap of the rows
        assert low <= payload[head]["macro_f1"] <= high


def test_evaluate_on_a_version_without_its_trained_texts_still_names_its_training_file(
    registry: Path, tmp_path: Path
) -> None:
    # A version saved before trained_texts.sha256 (or whose copy lost it) cannot count the rows it
    # has seen; its metadata still lists its training files, and evaluate says when it cannot tell.
    old = tmp_path / "old"
    shutil.copytree(Registry(registry).path_of("current"), old)
    (old / "trained_texts.sha256").unlink()
    own = runner.invoke(app, ["evaluate", "--model", str(old), "--data", str(DEFAULT_SAMPLE), "--json"])
    assert own.exit_code == 0, own.output
    assert json.loads(own.stdout)["rows_seen_in_training"] is None
    assert f"{DEFAULT_SAMPLE} is training data of version" in own.stderr
    assert "these figures are not held-out accuracy" in own.stderr
    unseen = tmp_path / "unseen.csv"
    unseen.write_text(
        "text,category,subtype,tier\n新买的热水器用了三天就不出热水，售后一直推脱不给上门,product,malfunction,P2\n",
        encoding="utf-8",
    )
    other = runner.invoke(app, ["evaluate", "--model", str(old), "--data", str(unseen), "--json"])
    assert other.exit_code == 0, other.output
    assert json.loads(other.stdout)["rows_seen_in_training"] is None
    assert "keeps no readable list of the texts it was trained on" in " ".join(other.stderr.split())


def test_evaluate_table_shows_no_calibration_error_for_the_demand(registry: Path) -> None:
    result = runner.invoke(
        app, ["evaluate", "--model", "current", "--data", str(DEFAULT_SAMPLE), "--registry", str(registry)]
    )
    assert result.exit_code == 0, result.output
    (demand,) = [line for line in result.stdout.splitlines() if "demand" in line]
    assert demand.split("│")[-2].strip() == "–" and "nan" not in result.stdout


def test_evaluate_accepts_a_folder_and_refuses_an_unknown_version(registry: Path) -> None:
    folder = Registry(registry).current_path()
    ok = runner.invoke(app, ["evaluate", "--model", str(folder), "--data", str(DEFAULT_SAMPLE), "--json"])
    assert ok.exit_code == 0
    bad = runner.invoke(
        app, ["evaluate", "--model", "v404", "--data", str(DEFAULT_SAMPLE), "--registry", str(registry)]
    )
    assert bad.exit_code == 1 and "no model version 'v404'" in bad.output


def test_a_model_folder_that_is_none_says_why(registry: Path, tmp_path: Path) -> None:
    version = Registry(registry).current_version()
    plain = tmp_path / "plain"
    plain.mkdir()
    a_file = tmp_path / "file"
    a_file.write_text("x", encoding="utf-8")
    for reference, message in (
        (str(tmp_path / "nothere" / "v1"), "no such folder"),
        (str(a_file), "not a folder"),
        (str(plain), "no metadata.json in this folder"),
        (
            str(registry),
            f"a model registry, not a version: give one of its version folders such as {registry / str(version)}",
        ),
    ):
        result = runner.invoke(app, ["predict", "快递没到", "--model", reference, "--registry", str(registry)])
        assert result.exit_code == 1, result.output
        assert f"--model {reference}: {message}" in " ".join(result.output.split()), result.output
        assert "is not a version id" not in result.output
    # a version id is still one, and a folder that is a version loads
    assert (
        runner.invoke(app, ["predict", "快递没到", "--model", str(version), "--registry", str(registry)]).exit_code == 0
    )
    assert runner.invoke(app, ["predict", "快递没到", "--model", str(registry / str(version))]).exit_code == 0


def test_predict_one_text_prints_json(registry: Path) -> None:
    result = runner.invoke(app, ["predict", "热水器漏电，差点出事，我要投诉到12315", "--registry", str(registry)])
    assert result.exit_code == 0, result.output
    prediction = json.loads(result.stdout)
    model, _ = load_model(Registry(registry).path_of("current"))
    expected = json.loads(
        json.dumps(model.predict("热水器漏电，差点出事，我要投诉到12315").to_dict(), ensure_ascii=False)
    )
    assert prediction == expected


def test_a_text_beginning_with_a_dash_is_shown_how_to_give_it(registry: Path) -> None:
    text = "-_-||| 退款一直没到账，客服也不回"
    refused = runner.invoke(app, ["predict", text, "--registry", str(registry)], env={"COLUMNS": "400"})
    assert refused.exit_code == 2 and "Traceback" not in refused.output
    assert "put the text after '--'" in refused.output and f"-- '{text}'" in refused.output
    given = runner.invoke(app, ["predict", "--registry", str(registry), "--", text])
    assert given.exit_code == 0, given.output
    assert json.loads(given.stdout)["masked_text"] == text
    # a mistyped option is still only that, whatever its value
    for mistyped in (["--fiel", "x.csv"], ["--flie=投诉.csv"], ["退款", "--json=是"]):
        said = runner.invoke(app, ["predict", *mistyped, "--registry", str(registry)], env={"COLUMNS": "400"})
        assert said.exit_code == 2 and "No such option" in said.output and "put the text" not in said.output, mistyped


def test_predict_output_is_valid_utf8_without_control_characters(registry: Path, tmp_path: Path) -> None:
    # a byte of the command line that is no UTF-8 (0xff) arrives as the lone surrogate U+DCFF
    result = runner.invoke(app, ["predict", "\udcff买的手机坏了", "--registry", str(registry)])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.decode("utf-8")  # strict: no raw byte written back
    assert json.loads(result.stdout)["masked_text"] == "\ufffd买的手机坏了"
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text("text,comment\n快递\x00三天没到\x1b[31m,备注\x00\x07电话\x0b13812345678\n", encoding="utf-8")
    scored = runner.invoke(app, ["predict", "--file", str(source), "--out", str(out), "--registry", str(registry)])
    assert scored.exit_code == 0, scored.output
    with out.open(encoding="utf-8", newline="") as stream:
        (row,) = list(csv.DictReader(stream))
    assert row["masked_text"] == "快递三天没到[31m" and row["comment"] == "备注电话 [PHONE]"


def test_predict_a_file_in_batches(registry: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    with source.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["ticket", "text"])
        with DEFAULT_SAMPLE.open(encoding="utf-8", newline="") as sample:  # 25 different complaints
            texts = [f"{row['text']}，电话1381234{i:04d}" for i, row in zip(range(25), csv.DictReader(sample))]
        for i, text in enumerate(texts):
            writer.writerow([f"t{i}", text])
    out = tmp_path / "out.csv"
    result = runner.invoke(
        app, ["predict", "--file", str(source), "--out", str(out), "--batch-size", "7", "--registry", str(registry)]
    )
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["ticket"] for row in rows] == [f"t{i}" for i in range(25)]
    # each row scored as a single batch of all 25 scores it: batches of 7 keep rows and scores together
    model, _ = load_model(Registry(registry).path_of("current"))
    expected = model.predict_many(texts)
    assert [(row["category"], row["subtype"], row["tier"]) for row in rows] == [
        (p.category.code, p.subtype.code, p.tier.code) for p in expected
    ]
    assert [row["masked_text"] for row in rows] == [as_text_cell(mask_pii(text)) for text in texts]
    assert len({row["subtype"] for row in rows}) > 1  # rows a misaligned batch would get wrong
    assert all("[PHONE]" in row["masked_text"] and "1381234" not in row["masked_text"] for row in rows)
    assert "text" not in rows[0]  # the unmasked text is not copied to the output


def test_predict_masks_personal_data_in_the_other_columns_too(registry: Path, tmp_path: Path) -> None:
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text(
        "text,comment,category\n快递三天没到,客户电话13812345678 邮箱a@b.cn,logistics\n", encoding="utf-8"
    )
    result = runner.invoke(app, ["predict", "--file", str(source), "--out", str(out), "--registry", str(registry)])
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8") as stream:
        (row,) = list(csv.DictReader(stream))
    assert row["comment"] == "客户电话[PHONE] 邮箱[EMAIL]" and row["given_category"] == "logistics"
    assert "13812345678" not in out.read_text(encoding="utf-8")


def test_predict_writes_cells_a_spreadsheet_would_run_as_formulas_as_text(registry: Path, tmp_path: Path) -> None:
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    hostile = '=HYPERLINK("http://example.com","点我")快递三天没到'
    with source.open("w", encoding="utf-8", newline="") as stream:
        csv.writer(stream).writerows([["text", "note"], [hostile, "@客服 -态度差"], ["'=1+1 手机坏了", "'普通备注"]])
    result = runner.invoke(app, ["predict", "--file", str(source), "--out", str(out), "--registry", str(registry)])
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8", newline="") as stream:
        first, second = csv.DictReader(stream)
    assert first["masked_text"] == "'" + hostile and first["note"] == "'@客服 -态度差"
    # an input cell marked as text by a spreadsheet is read without the mark, and marked again
    assert second["masked_text"] == "'=1+1 手机坏了" and second["note"] == "'普通备注"
    # the input's column names are cells of the output too; a file of no rows gets them, with a warning
    source.write_text('text,"=HYPERLINK(""http://example.com"",""点我"")"\n', encoding="utf-8")
    result = runner.invoke(
        app, ["predict", "--file", str(source), "--out", str(out), "--force", "--registry", str(registry)]
    )
    assert result.exit_code == 0 and "has a header and no rows" in " ".join(result.output.split()), result.output
    with out.open(encoding="utf-8", newline="") as stream:
        header = next(csv.reader(stream))
    assert header[0] == "'" + '=HYPERLINK("http://example.com","点我")' and "masked_text" in header


def test_predict_a_labeled_file_keeps_its_labels_and_never_overwrites_the_input(registry: Path, tmp_path: Path) -> None:
    source = tmp_path / "labeled.csv"
    source.write_text(" text ,category,tier\n热水器漏电，差点出事,product,P1\n", encoding="utf-8")
    before = source.read_bytes()
    flags = ["--registry", str(registry)]
    same = runner.invoke(app, ["predict", "--file", str(source), "--out", str(source), *flags])
    assert same.exit_code == 1 and "is the input file" in same.output
    missing = runner.invoke(
        app, ["predict", "--file", str(source), "--out", str(tmp_path / "missing" / "out.csv"), *flags]
    )
    assert missing.exit_code == 1 and "its folder does not exist" in missing.output
    # a folder, or a path ending in a slash (which Path() would drop), is refused as a usage error
    for out in (str(tmp_path), f"{tmp_path}/", f"{tmp_path / 'new'}/"):
        bad = runner.invoke(app, ["predict", "--file", str(source), "--out", out, *flags], env={"COLUMNS": "400"})
        assert bad.exit_code == 2 and f"{out} names a folder; give a file path" in bad.output, bad.output
    assert sorted(path.name for path in tmp_path.iterdir()) == ["labeled.csv"]
    assert source.read_bytes() == before
    out = tmp_path / "scored.csv"
    assert runner.invoke(app, ["predict", "--file", str(source), "--out", str(out), *flags]).exit_code == 0
    with out.open(encoding="utf-8") as stream:
        (row,) = list(csv.DictReader(stream))
    assert (row["given_category"], row["given_tier"]) == ("product", "P1")
    assert row["category"] and row["tier"] in {"P1", "P2", "P3"}
    # an existing output is kept unless --force, as `triage export` keeps its --out
    out.write_text("last week's scores\n", encoding="utf-8")
    again = runner.invoke(app, ["predict", "--file", str(source), "--out", str(out), *flags])
    assert again.exit_code == 1 and f"--out {out} already exists; nothing was written" in again.output
    assert "give --force to replace it" in again.output and out.read_text(encoding="utf-8") == "last week's scores\n"
    forced = runner.invoke(app, ["predict", "--file", str(source), "--out", str(out), "--force", *flags])
    assert forced.exit_code == 0 and "masked_text" in out.read_text(encoding="utf-8")
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []


def test_predict_reads_a_text_column_named_as_a_labelled_file_may_name_it(registry: Path, tmp_path: Path) -> None:
    # A colleague's sheet headed as the business names the columns: refused ("no 'text' column")
    # although `triage train` reads the same header.
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    texts = ["快递三天没到，\n电话13812345678", "热水器漏电，差点出事"]
    flags = ["--file", str(source), "--out", str(out), "--force", "--registry", str(registry)]
    model, _ = load_model(Registry(registry).path_of("current"))
    for written in ("文本", " Text ", "ｔｅｘｔ"):
        with source.open("w", encoding="utf-8", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(["编号", written, "类别", "Category", "tier"])
            writer.writerows(
                [["t1", texts[0], "物流问题", "logistics", "P2"], ["t2", texts[1], "产品问题", "product", "P1"]]
            )
        result = runner.invoke(app, ["predict", *flags], env={"COLUMNS": "400"})
        assert result.exit_code == 0, result.output
        warning = f"warning: {source}, row 1: column names read as the columns they name: {written.strip()!r} as text"
        assert warning in result.output
        with out.open(encoding="utf-8", newline="") as stream:
            header, *rows = list(csv.reader(stream))
        # the input's columns as written (the text left out: masked_text replaces it); one named as a
        # prediction column, in any case, is given_<as written>
        assert header[:4] == ["编号", "类别", "given_Category", "given_tier"] and header[-1] == "masked_text"
        scored = [dict(zip(header, row)) for row in rows]
        assert [row["masked_text"] for row in scored] == [mask_pii(text) for text in texts]
        assert [(row["编号"], row["类别"], row["given_Category"]) for row in scored] == [
            ("t1", "物流问题", "logistics"),
            ("t2", "产品问题", "product"),
        ]
        assert [row["category"] for row in scored] == [p.category.code for p in model.predict_many(texts)]
        assert "13812345678" not in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("body", "where", "what"),
    [
        ('text,channel\n快递三天没到,phone\n"手机坏了,phone\n快递丢了,online\n', "row 3:", "never closed"),
        ("text,channel,text\n快递三天没到,phone,手机坏了\n", "row 1", "text appear more than once"),
        ("text,,\n快递三天没到,a,b\n", "row 1", "2 columns have no name"),
        ("text,channel\n快递三天没到,phone,extra\n", "row 2", "more fields than the header has columns (3 of 2)"),
        ("ticket,text,channel\nt1,快递三天没到\n", "row 2", "fewer fields than the header has columns (2 of 3)"),
        ("channel\nphone\n", "row 1", "no text column (named text or 文本; header is channel)"),
        # two names of the text column (as a labelled file's): which holds the complaints?
        ("text,ＴＥＸＴ\n快递三天没到,手机坏了\n", "row 1", "text and ＴＥＸＴ both name the column text"),
        ("ticket;text\nt1;快递三天没到\n", "row 1", "the columns look separated by semicolons"),
        # two exports pasted into one file: the second header would be scored as a complaint
        ("ticket,text\nt1,快递三天没到\n ticket , text \nt2,手机坏了\n", "row 3", "the header row again"),
    ],
)
def test_predict_a_file_that_is_not_what_its_header_says_writes_nothing(
    registry: Path, tmp_path: Path, body: str, where: str, what: str
) -> None:
    source, out = tmp_path / "in.csv", tmp_path / "out.csv"
    source.write_text(body, encoding="utf-8")
    result = runner.invoke(app, ["predict", "--file", str(source), "--out", str(out), "--registry", str(registry)])
    assert result.exit_code == 1 and where in result.output and what in result.output, result.output
    assert not out.exists()


def test_predict_a_file_that_is_not_utf8_names_the_file_and_line_and_writes_nothing(
    registry: Path, tmp_path: Path
) -> None:
    lines = ["ticket,text", *[f"t{i},快递第{i}天还没送到" for i in range(2, 80)]]
    bad_byte = tmp_path / "bad_byte.csv"
    raw = [line.encode("utf-8") for line in lines]
    raw[56] += b"\xff"  # one byte that is no UTF-8, on the file's line 57
    bad_byte.write_bytes(b"\n".join(raw) + b"\n")
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("\n".join(lines).encode("gbk"))  # Excel's "CSV" on a Chinese Windows
    out = tmp_path / "out.csv"
    out.write_text("last week's scores\n", encoding="utf-8")
    for source, line in ((bad_byte, 57), (gbk, 2)):
        result = runner.invoke(
            app, ["predict", "--file", str(source), "--out", str(out), "--force", "--registry", str(registry)]
        )
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
        (message,) = result.output.strip().splitlines()  # one line, no traceback
        assert f"{source}: not valid UTF-8 at line {line}" in message
        assert "the file must be UTF-8: save it as CSV UTF-8" in message
        assert ("looks GBK-encoded" in message) == (source == gbk)
        assert out.read_text(encoding="utf-8") == "last week's scores\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["bad_byte.csv", "gbk.csv", "out.csv"]


def test_an_xls_workbook_given_as_data_is_one_line_naming_it(registry: Path, tmp_path: Path) -> None:
    workbook = tmp_path / "complaints.xls"  # an OLE2 compound file, as Excel 97-2003 writes it
    workbook.write_bytes(bytes.fromhex("D0CF11E0A1B11AE1") + bytes(504) + b"\xff" * 512)
    said = "an Excel 97-2003 workbook (.xls, an OLE2 compound file), not CSV text; open it in Excel or WPS and save it"
    out = tmp_path / "models"
    trained = runner.invoke(app, ["train", "--data", str(workbook), "--out", str(out)])
    assert trained.exit_code == 1 and isinstance(trained.exception, SystemExit), trained.output
    assert f"{workbook}: {said} as CSV UTF-8" in " ".join(trained.output.split()) and not out.exists()
    scored = runner.invoke(
        app, ["predict", "--file", str(workbook), "--out", str(tmp_path / "o.csv"), "--registry", str(registry)]
    )
    assert scored.exit_code == 1 and isinstance(scored.exception, SystemExit), scored.output
    (line,) = scored.output.strip().splitlines()
    assert line == f"error: {workbook}: {said} as CSV UTF-8"


def test_inputs_that_are_not_regular_files_are_refused_before_reading(registry: Path, tmp_path: Path) -> None:
    pipe = tmp_path / "pipe.csv"
    os.mkfifo(pipe)  # reading it would wait for ever
    zero = tmp_path / "zero.csv"
    zero.symlink_to("/dev/zero")  # reading it would fill the memory
    flags = ["--registry", str(registry)]
    for source in (pipe, zero):
        scored = runner.invoke(app, ["predict", "--file", str(source), "--out", str(tmp_path / "o.csv"), *flags])
        assert scored.exit_code == 1 and "not a regular file" in scored.output
        trained = runner.invoke(app, ["train", "--data", str(source), "--out", str(tmp_path / "reg")])
        assert trained.exit_code == 1 and "not a regular file" in trained.output


def test_predict_a_file_with_a_text_beyond_the_csv_field_limit(registry: Path, tmp_path: Path) -> None:
    # The limit is process-wide: start from the csv module's default, as a fresh `triage` does.
    previous = csv.field_size_limit(128 * 1024)
    source, out = tmp_path / "long.csv", tmp_path / "long_scored.csv"
    with source.open("w", encoding="utf-8", newline="") as stream:
        csv.writer(stream).writerows([["text"], ["快递一直没送到" * 25_000], ["快递三天没到"]])
    try:
        result = runner.invoke(app, ["predict", "--file", str(source), "--out", str(out), "--registry", str(registry)])
    finally:
        csv.field_size_limit(previous)
    assert result.exit_code == 0, result.output
    with out.open(encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["issues"] for row in rows] == ["truncated", ""]


def test_the_team_corpus_trains_but_is_never_held_out(tmp_path: Path, taxonomy: Taxonomy) -> None:
    # An analyst's file that happens to hold the sample corpus: its copies in the team corpus are
    # dropped as duplicates, the other team rows only train, and the held-out rows come from it.
    export = tmp_path / "export.csv"
    export.write_bytes(DEFAULT_SAMPLE.read_bytes())
    export_rows = load_datasets([export], taxonomy).rows
    _, held_out = split_rows(export_rows, 0.2)
    domain_rows = load_datasets([TEAM_CORPUS[1]], taxonomy).rows
    figures = {}
    for flag in ("--team-corpus", "--no-team-corpus"):
        out = tmp_path / flag
        result = runner.invoke(app, ["train", "--data", str(export), flag, "--out", str(out)])
        assert result.exit_code == 0, result.output
        (version,) = Registry(out).versions()
        figures[flag] = version.metadata
    with_corpus, without = figures["--team-corpus"], figures["--no-team-corpus"]
    assert with_corpus["evaluation"]["rows"] == without["evaluation"]["rows"] == len(held_out)
    assert with_corpus["evaluation"]["trained_rows"] == len(export_rows) - len(held_out) + len(domain_rows)
    assert with_corpus["training_data"]["corpus_rows"] == len(domain_rows)
    # the saved model was fitted again on every row (refit, the default)
    assert with_corpus["training_data"]["rows_used"] == len(export_rows) + len(domain_rows)
    assert with_corpus["training_data"]["duplicates_dropped"] == len(export_rows)
    assert sum(with_corpus["training_data"]["label_counts"]["tier"].values()) == len(export_rows)
    assert without["training_data"]["corpus_rows"] == 0
    assert without["evaluation"]["trained_rows"] == len(export_rows) - len(held_out)
    assert without["training_data"]["rows_used"] == len(export_rows)


def test_the_report_counts_duplicates_apart_from_export_rows_no_agent_reviewed(
    tmp_path: Path, taxonomy: Taxonomy
) -> None:
    # The project's sample export (`export --all`, most rows unreviewed) with the team corpus, which
    # holds the texts of its reviewed rows: the report said "612 duplicates dropped", counting the
    # unreviewed rows left out as duplicates.
    export = DEFAULT_SAMPLE.parent / "sample_export.csv"
    with export.open(encoding="utf-8", newline="") as stream:
        export_rows = list(csv.DictReader(stream))
    unreviewed = sum(row["reviewed"] == "false" for row in export_rows)
    dataset = load_datasets([export, *TEAM_CORPUS], taxonomy)
    duplicates = dataset.duplicates
    assert duplicates > 0 and unreviewed > 0
    out = tmp_path / "models"
    result = runner.invoke(app, ["train", "--data", str(export), "--no-refit", "--out", str(out)])
    assert result.exit_code == 0, result.output
    (version,) = Registry(out).versions()
    training_data = version.metadata["training_data"]
    assert training_data["duplicates_dropped"] == duplicates
    assert training_data["unreviewed_left_out"] == unreviewed
    assert training_data["left_out_as_held_out"] == 0  # their texts were dropped as duplicates first
    # one warning for the export, not one per unreviewed row
    (left_out,) = [line for line in result.output.splitlines() if "column reviewed" in line]
    assert f"{unreviewed} of its {len(export_rows)} rows were reviewed by no agent" in left_out
    report = (version.path / "report.md").read_text(encoding="utf-8")
    said = f"({duplicates} duplicates dropped, {unreviewed} rows no agent reviewed left out) from:"
    assert f"Trained on {training_data['rows_used']} rows {said}" in report


def test_a_held_out_share_measures_the_model_then_trains_it_too(tmp_path: Path, taxonomy: Taxonomy) -> None:
    # Every labelled row counts: the figures come from the model trained without the held-out
    # share, and the saved one is that model fitted again on every row (the one `fit_model`
    # gives on the whole file), unless --no-refit saves the evaluated model itself.
    from training.train import TRAINED_TEXTS, fit_model, text_key

    rows = load_datasets([DEFAULT_SAMPLE], taxonomy).rows
    _, held_out = split_rows(rows, 0.2)
    versions = {}
    for flag in ("--refit", "--no-refit"):
        out = tmp_path / flag
        command = ["train", "--data", str(DEFAULT_SAMPLE), "--no-team-corpus", flag, "--out", str(out)]
        result = runner.invoke(app, command)
        assert result.exit_code == 0, result.output
        # the bar counts the steps that run: no refit step without a refit
        assert ("done" in result.output) and ("5/5" if flag == "--refit" else "4/4") in result.output
        (versions[flag],) = Registry(out).versions()
    refit, evaluated = versions["--refit"].metadata, versions["--no-refit"].metadata
    assert refit["metrics"] == evaluated["metrics"]  # the same evaluated model
    assert refit["evaluation"]["trained_rows"] == evaluated["evaluation"]["trained_rows"] == len(rows) - len(held_out)
    assert refit["evaluation"]["refit"] and not evaluated["evaluation"]["refit"]
    assert refit["training_data"]["rows_used"] == len(rows)
    assert evaluated["training_data"]["rows_used"] == len(rows) - len(held_out)
    held_keys = {text_key(row.text) for row in held_out}
    refit_keys = set((versions["--refit"].path / TRAINED_TEXTS).read_text(encoding="ascii").split())
    evaluated_keys = set((versions["--no-refit"].path / TRAINED_TEXTS).read_text(encoding="ascii").split())
    assert held_keys <= refit_keys and not held_keys & evaluated_keys
    report = " ".join((versions["--refit"].path / "report.md").read_text(encoding="utf-8").split())
    assert "trained again on all" in report
    # no promise for the saved model: refit on team-written rows, the default model lost a point on real ones
    assert "expected to do at least as well" not in report and "the saved model itself is not measured" in report
    assert "trained again" not in (versions["--no-refit"].path / "report.md").read_text(encoding="utf-8")

    texts = [row.text for row in held_out]
    expected = [
        p.tier_probabilities | {"subtype": p.subtype.probability} for p in fit_model(rows, taxonomy).predict_many(texts)
    ]
    for flag, same in (("--refit", True), ("--no-refit", False)):
        model, _ = load_model(versions[flag].path, taxonomy)
        got = [p.tier_probabilities | {"subtype": p.subtype.probability} for p in model.predict_many(texts)]
        assert (got == expected) is same, flag


def test_a_clash_with_the_team_corpus_says_how_to_leave_it_out(tmp_path: Path) -> None:
    with DEFAULT_SAMPLE.open(encoding="utf-8", newline="") as stream:
        header, first, *_ = list(csv.reader(stream))
    tier = header.index("tier")
    clash = [*first[:tier], "P3" if first[tier] != "P3" else "P1", *first[tier + 1 :]]
    data = tmp_path / "clash.csv"
    with data.open("w", encoding="utf-8", newline="") as stream:
        csv.writer(stream).writerows([header, clash])
    result = runner.invoke(app, ["train", "--data", str(data), "--out", str(tmp_path / "models")])
    assert result.exit_code == 1 and "with other labels" in result.output
    assert "--no-team-corpus leaves it out" in result.output


def test_a_text_in_the_evaluation_file_never_trains(
    tmp_path: Path, taxonomy: Taxonomy, monkeypatch: pytest.MonkeyPatch
) -> None:
    export = tmp_path / "export.csv"
    export.write_bytes(DEFAULT_SAMPLE.read_bytes())
    with DEFAULT_SAMPLE.open(encoding="utf-8", newline="") as stream:
        reader = csv.DictReader(stream)
        fields, rows = reader.fieldnames or [], list(reader)[:100]  # 100 rows of the export
    holdout = tmp_path / "holdout.csv"
    with holdout.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "models"
    monkeypatch.chdir(tmp_path)  # the files given relative to the working folder
    result = runner.invoke(
        app, ["train", "--data", "export.csv", "--eval", "./holdout.csv", "--no-team-corpus", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    # one warning for the file, not one per row
    said = "100 rows with the same text as a held-out evaluation row are left out of training (rows 2, "
    assert result.output.count(said) == 1 and "and 95 more)" in result.output, result.output
    (version,) = Registry(out).versions()
    training_data = version.metadata["training_data"]
    # recorded resolved, so that they still name the files when read from another folder
    recorded = [*training_data["files"], *version.metadata["evaluation"]["files"]]
    assert [(item["path"], item["sha256"]) for item in recorded] == [
        (str(path.resolve()), hashlib.sha256(path.read_bytes()).hexdigest()) for path in (export, holdout)
    ]
    assert version.metadata["evaluation"]["split"] == f"file {holdout.resolve()}"
    assert training_data["left_out_as_held_out"] == 100
    assert training_data["rows_used"] == len(load_datasets([export], taxonomy).rows) - 100
    assert version.metadata["evaluation"]["rows"] == 100


def test_warnings_past_twenty_are_summed_up(capsys: pytest.CaptureFixture[str]) -> None:
    # each warning is of a file or a column of one, but a training may read many files
    from training import cli

    cli._print_warnings([f"file{number}.csv: warning {number}" for number in range(cli.SHOWN_WARNINGS + 6)])
    printed = capsys.readouterr().err
    assert printed.count("  warning:") == cli.SHOWN_WARNINGS and "file19.csv" in printed and "file20.csv" not in printed
    assert "… and 6 more warnings of the same kinds" in printed


def test_a_file_no_agent_reviewed_is_refused_by_evaluate_compare_and_train_without_a_traceback(
    registry: Path, tmp_path: Path
) -> None:
    # An `export --all` of a month without reviews: every row is left out. Evaluate and compare
    # stopped on a traceback (no rows to score), train --eval fitted for minutes and then did, and
    # train --data said "0 subtypes" (with --eval, "every one is also an evaluation row").
    unreviewed = tmp_path / "october_all.csv"
    unreviewed.write_text(
        "ticket_no,text,category,subtype,tier,reviewed\n"
        "TS-1,快递三天都没送到，打电话也没人接,logistics,late_delivery,P2,false\n"
        "TS-2,收到的杯子碎了一地，包装太简陋,logistics,damaged_package,P2,false\n",
        encoding="utf-8",
    )
    said = f"{unreviewed}, column reviewed: no agent reviewed any of its 2 rows"
    root = ["--registry", str(registry)]
    for command in (
        ["evaluate", "--model", "current", "--data", str(unreviewed), "--json", *root],
        ["compare", "--candidate", "current", "--data", str(unreviewed), *root],
    ):
        result = runner.invoke(app, command)
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
        assert said in " ".join(result.output.split()) and "Traceback" not in result.output
    out = tmp_path / "models"
    for flags in (["--eval", str(unreviewed)], ["--data", str(unreviewed)]):
        command = ["train", "--data", str(DEFAULT_SAMPLE), "--no-team-corpus", *flags, "--out", str(out)]
        if flags[0] == "--data":
            command = ["train", *flags, "--out", str(out)]
        result = runner.invoke(app, command)
        assert result.exit_code == 1 and said in " ".join(result.output.split()), result.output
        assert "fitting" not in result.output and "evaluation row" not in result.output
    assert not out.exists()


def test_rows_no_agent_reviewed_are_one_warning_in_evaluate_compare_and_promote(registry: Path, tmp_path: Path) -> None:
    # An `export --all` with most rows unreviewed: each command that reads labelled rows said so
    # once per row (20 shown, "… and 9 more"); now once for the file, with the first rows.
    lines = ["ticket_no,text,category,subtype,tier,reviewed"]
    text = "第{}次催了，快递还是没送到，电话也打不通"
    lines += [f"TS-{i},{text.format(i)},logistics,late_delivery,P2,false" for i in range(1, 30)]
    lines += ["TS-30,客服直接挂我电话，态度极差,service,attitude,P2,true"]
    export = tmp_path / "october_all.csv"
    export.write_text("\n".join(lines) + "\n", encoding="utf-8")
    copy = tmp_path / "models"
    shutil.copytree(registry, copy)
    shutil.copytree(Registry(copy).current_path(), copy / "20990101-000000-copy")
    root = ["--registry", str(copy)]
    for command in (
        ["evaluate", "--model", "current", "--data", str(export), *root],
        ["compare", "--candidate", "20990101-000000-copy", "--data", str(export), *root],
        ["promote", "20990101-000000-copy", "--data", str(export), *root],  # refused: too few rows
    ):
        result = runner.invoke(app, command)
        output = " ".join(result.output.split())  # as wide as the terminal: lines folded anywhere
        assert output.count("column reviewed") == 1 and "more warnings" not in output, result.output
        assert (
            f"warning: {export}, column reviewed: 29 of its 30 rows were reviewed by no agent (reviewed is false) "
            "and are left out: their labels are the model's own suggestions (rows 2, 3, 4, 5, 6 and 24 more)"
        ) in output


def test_held_out_figures_on_a_handful_of_rows_are_said_to_say_little(tmp_path: Path) -> None:
    # A small --data file trained with the team corpus, measured on the 3 rows of its --eval file:
    # the figures (1.000 or 0.000, say) were printed and written to report.md as any others.
    data = tmp_path / "october.csv"
    data.write_text(
        "text,category,subtype,tier\n"
        "骑手把外卖放在楼下就走了，打电话也不接，汤全洒了,logistics,courier_service,P2\n"
        "买的电饭煲用了一周就不加热了，售后说要等半个月,product,malfunction,P2\n"
        "退货寄回去十天了钱还没退，客服只会说在处理,after_sales,refund_return,P2\n",
        encoding="utf-8",
    )
    held_out = tmp_path / "held_out.csv"
    held_out.write_text(
        "text,category,subtype,tier\n"
        "快递显示签收了可我根本没收到，快递员说放在驿站了,logistics,courier_service,P2\n"
        "新买的吹风机第二天就不出热风了，要求换一台,product,malfunction,P2\n"
        "酒店退房时多扣了我两百押金，前台说系统问题,after_sales,billing,P1\n",
        encoding="utf-8",
    )
    out = tmp_path / "models"
    result = runner.invoke(app, ["train", "--data", str(data), "--eval", str(held_out), "--out", str(out)])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "warning: the held-out figures rest on 3 rows (fewer than 30), and on fewer than 5 rows each for" in said
    assert "they say little (macro-F1 with its 95 % interval: category " in said
    (version,) = Registry(out).versions()
    report = (version.path / "report.md").read_text(encoding="utf-8")
    metrics = report.split("## Metrics (held-out data only)")[1]
    assert metrics.lstrip().startswith("**Warning:** The held-out figures rest on 3 rows (fewer than 30)")

    # Trained again, the version is not current: the command it suggests names the held-out file
    # the gate needs (it said `triage promote V`, which failed for want of --data).
    again = runner.invoke(app, ["train", "--data", str(data), "--eval", str(held_out), "--out", str(out)])
    assert again.exit_code == 0, again.output
    candidate = again.output.strip().splitlines()[-1]
    said = " ".join(again.output.split())
    assert (
        f"triage compare --candidate {candidate} --data {held_out}, then triage promote {candidate} --data {held_out}"
        in said
    )
    gate = runner.invoke(
        app, ["promote", candidate, "--data", str(held_out), "--registry", str(out)], env={"TRIAGE_COMPARISON_DATA": ""}
    )
    assert "needs a held-out comparison set" not in gate.output and "needs at least 50 held-out rows" in gate.output

    # `triage models` says when its rows' figures are on different held-out rows (they do not compare)
    listed = runner.invoke(app, ["models", "--registry", str(out)])
    assert listed.exit_code == 0 and "note: each version's figures" not in listed.output  # the same file
    path = out / candidate / "metadata.json"
    metadata = json.loads(path.read_text(encoding="utf-8"))
    metadata["evaluation"] = {**metadata["evaluation"], "split": "stratified 20% of other.csv (seed 42)", "files": []}
    path.write_text(json.dumps(metadata), encoding="utf-8")
    listed = runner.invoke(app, ["models", "--registry", str(out)])
    said = " ".join(listed.output.split())
    assert listed.exit_code == 0 and "note: each version's figures are on its own held-out rows" in said


def test_training_that_would_leave_nothing_to_train_on_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "models"
    sample = str(DEFAULT_SAMPLE)
    same = runner.invoke(app, ["train", "--data", sample, "--eval", sample, "--out", str(out)])
    assert same.exit_code == 1
    assert "no rows of the data files are left to train on" in same.output
    alone = runner.invoke(app, ["train", "--no-team-corpus", "--out", str(out)])
    assert alone.exit_code == 1 and "--no-team-corpus needs --data" in alone.output
    assert not out.exists()


def test_ctrl_c_while_training_or_scoring_says_nothing_was_written(
    registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    # while the version folder is being written
    monkeypatch.setattr("training.train.write_report", interrupted)
    out = tmp_path / "models"
    trained = runner.invoke(app, ["train", "--out", str(out)])
    assert trained.exit_code == 130 and "interrupted; nothing was promoted" in trained.output, trained.output
    assert [path.name for path in out.iterdir()] == []
    # while the rows are scored: last week's scores stay
    source, scores = tmp_path / "in.csv", tmp_path / "scores.csv"
    source.write_text("text\n快递三天没到\n", encoding="utf-8")
    scores.write_text("last week's scores\n", encoding="utf-8")
    monkeypatch.setattr("model.predictor.TriageModel.predict_many", interrupted)
    scored = runner.invoke(
        app, ["predict", "--file", str(source), "--out", str(scores), "--force", "--registry", str(registry)]
    )
    assert scored.exit_code == 130 and f"interrupted; {scores} was left as it was" in scored.output, scored.output
    assert scores.read_text(encoding="utf-8") == "last week's scores\n"


def test_train_warns_of_rows_the_model_cannot_judge_and_trains_on_them(
    tmp_path: Path, trained: tuple[Path, str]
) -> None:
    with DEFAULT_SAMPLE.open(encoding="utf-8", newline="") as stream:
        header, *rows = list(csv.reader(stream))
    column = {name: i for i, name in enumerate(header)}
    extra = []
    for number, text in enumerate(
        ["Parcel never came", "慢", "差评", "WiFi keeps dropping", "坏", "烂", "No refund yet"]
    ):
        row = [""] * len(header)
        for name, value in (("id", f"extra-{number}"), ("text", text), ("category", "logistics")):
            row[column[name]] = value
        row[column["subtype"]], row[column["tier"]] = "late_delivery", "P3"
        extra.append(row)
    data = tmp_path / "with_english.csv"
    with data.open("w", encoding="utf-8", newline="") as stream:
        csv.writer(stream).writerows([header, *rows, *extra])
    out = tmp_path / "models"
    result = runner.invoke(app, ["train", "--data", str(data), "--no-team-corpus", "--no-refit", "--out", str(out)])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert (
        "warning: 7 row(s) are texts the model cannot judge (4 with fewer than 4 Chinese characters, 3 with no Chinese)"
        in output
    )
    first = len(rows) + 2  # the spreadsheet row of the first extra record (the header is row 1)
    named = "; ".join(f"{data}, row {first + i}" for i in range(5))
    assert f"the empty text: {named}; and 2 more. They are used all the same" in output
    (version,) = Registry(out).versions()
    used = version.metadata["training_data"]["rows_used"] + version.metadata["evaluation"]["rows"]
    assert used == len(rows) + len(extra)  # none left out
    # the team corpus's own short reviews (太慢了) are not the analyst's to check: plain train says nothing
    assert "cannot judge" not in trained[1]


def test_train_removes_the_staging_folders_killed_trainings_left_an_hour_ago(tmp_path: Path) -> None:
    out = tmp_path / "models"
    stale, fresh = out / ".20261120-101500-3f9a2c.k2j4x9ab", out / ".20261123-121500-0b1c2d.q8w7e6r5"
    for folder in (stale, fresh):  # as a SIGKILL while saving leaves them
        folder.mkdir(parents=True)
        (folder / "model.joblib").write_bytes(b"half written")
    two_hours_ago = time.time() - 7200
    for path in (stale, stale / "model.joblib"):
        os.utime(path, (two_hours_ago, two_hours_ago))
    command = ["train", "--data", str(DEFAULT_SAMPLE), "--no-team-corpus", "--no-refit", "--out", str(out)]
    result = runner.invoke(app, command)
    assert result.exit_code == 0, result.output
    assert f"note: removed {stale}, the staging folder of a training killed 2 h ago" in " ".join(result.output.split())
    assert not stale.exists() and fresh.is_dir()  # a younger one may be a training saving right now
    (version,) = Registry(out).versions()
    assert version.current and str(fresh) not in result.output


def test_training_refuses_a_file_as_registry_and_too_few_rows_to_hold_out(tmp_path: Path) -> None:
    a_file = tmp_path / "models.txt"
    a_file.write_text("", encoding="utf-8")
    refused = runner.invoke(app, ["train", "--out", str(a_file)])
    assert refused.exit_code == 1 and "is a file" in refused.output and isinstance(refused.exception, SystemExit)
    under_a_file = runner.invoke(app, ["train", "--out", str(a_file / "models")])
    assert under_a_file.exit_code == 1 and "cannot be written" in under_a_file.output
    assert "fitting" not in under_a_file.output and "━" not in under_a_file.output  # refused before any step
    # A folder that permissions pass (for root) but no folder can be made in: refused before the fit too.
    if Path("/sys/kernel").is_dir():
        sysfs = runner.invoke(app, ["train", "--out", "/sys/triage-models"])
        assert sysfs.exit_code == 1 and "--out /sys/triage-models: cannot be written (/sys" in sysfs.output
        assert "━" not in sysfs.output
    small = tmp_path / "small.csv"
    with DEFAULT_SAMPLE.open(encoding="utf-8", newline="") as stream:
        rows = list(csv.reader(stream))[:31]
    with small.open("w", encoding="utf-8", newline="") as stream:
        csv.writer(stream).writerows(rows)
    out = tmp_path / "models"
    few = runner.invoke(app, ["train", "--data", str(small), "--no-team-corpus", "--out", str(out)])
    assert few.exit_code == 1 and "too few to hold out 20%" in few.output and "--eval" in few.output
    assert not out.exists()
    # a share near 0 or 1 is shown as given, not rounded to 0% or 100%
    for share, shown in (("1e-9", "0.0000001%"), ("0.999", "99.9%")):
        flags = ["--eval-split", share, "--data", str(small), "--no-team-corpus", "--out", str(out)]
        tiny = runner.invoke(app, ["train", *flags])
        assert tiny.exit_code == 1 and f"too few to hold out {shown} with" in tiny.output, tiny.output
    assert [percent(share) for share in (0.2, 0.05, 0.2345, 0.5, 0.9999999)] == [
        "20%",
        "5%",
        "23.45%",
        "50%",
        "99.99999%",
    ]


def test_eval_file_and_eval_split_together_are_refused_and_a_repeated_file_is_read_once(tmp_path: Path) -> None:
    sample, out = str(DEFAULT_SAMPLE), tmp_path / "models"
    both = runner.invoke(app, ["train", "--data", sample, "--eval", sample, "--eval-split", "0.3", "--out", str(out)])
    assert both.exit_code == 1 and "not both" in both.output and not out.exists()
    for flag in ("--refit", "--no-refit"):  # no held-out share to refit on: said, not ignored
        refit = runner.invoke(app, ["train", "--data", sample, "--eval", sample, flag, "--out", str(out)])
        assert refit.exit_code == 1 and "with --eval FILE all of --data trains already" in refit.output
        assert not out.exists()
    twice = runner.invoke(app, ["train", "--data", sample, "--data", sample, "--no-team-corpus", "--out", str(out)])
    assert twice.exit_code == 0, twice.output
    assert twice.output.count("more than once") == 1 and "same text and labels" not in twice.output
    (version,) = Registry(out).versions()
    assert len(version.metadata["training_data"]["files"]) == 1


def test_train_on_bad_data_lists_every_problem_and_writes_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "text,category,subtype,tier\n快递慢,logistics,late,P2\n手机坏了,product,malfunction,P7\n", encoding="utf-8"
    )
    out = tmp_path / "models"
    result = runner.invoke(app, ["train", "--data", str(bad), "--out", str(out)])
    assert result.exit_code == 1
    assert "bad.csv, row 2, column subtype" in result.output
    assert "bad.csv, row 3, column tier" in result.output
    assert not out.exists()


def test_models_lists_versions_and_rollback_needs_a_previous_one(registry: Path) -> None:
    listing = runner.invoke(app, ["models", "--registry", str(registry)])
    assert listing.exit_code == 0 and Registry(registry).current_version() in listing.stdout
    assert "refit" in listing.stdout  # its figures are its twin's, measured before the refit
    rollback = runner.invoke(app, ["rollback", "--registry", str(registry)])
    assert rollback.exit_code == 1 and "nothing to roll back to" in rollback.output
    typo = runner.invoke(app, ["models", "--registry", str(registry) + "-typo"])
    assert typo.exit_code == 0 and "(no such folder); check --registry" in " ".join(typo.stdout.split())


def test_without_registry_option_the_commands_use_the_services_folder(
    registry: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The service keeps its models in $TRIAGE_VAR_DIR/models; the CLI looks there too.
    var_dir = tmp_path / "var"
    var_dir.mkdir()
    (var_dir / "models").symlink_to(registry)
    monkeypatch.delenv("TRIAGE_REGISTRY", raising=False)
    monkeypatch.setenv("TRIAGE_VAR_DIR", str(var_dir))
    listing = runner.invoke(app, ["models"])
    assert listing.exit_code == 0, listing.output
    assert str(var_dir / "models") in listing.stdout
    assert Registry(registry).current_version() in listing.stdout
    # TRIAGE_REGISTRY still names another folder.
    monkeypatch.setenv("TRIAGE_REGISTRY", str(tmp_path / "elsewhere"))
    assert f"no model registry at {tmp_path / 'elsewhere'}" in runner.invoke(app, ["models"]).stdout


def test_classes_too_rare_to_train_are_named_before_fitting(tmp_path: Path) -> None:
    with DEFAULT_SAMPLE.open(encoding="utf-8", newline="") as stream:
        header, *rows = list(csv.reader(stream))
    column = {name: i for i, name in enumerate(header)}
    first_per_subtype = list({row[column["subtype"]]: row for row in reversed(rows)}.values())
    one_each, out = tmp_path / "one_each.csv", tmp_path / "models"
    with one_each.open("w", encoding="utf-8", newline="") as stream:
        csv.writer(stream).writerows([header, *first_per_subtype])
    split = runner.invoke(app, ["train", "--data", str(one_each), "--no-team-corpus", "--out", str(out)])
    assert split.exit_code == 1 and "too few to hold out" in split.output, split.output
    # Two rows of every subtype, all P2 but one P1: the tier head cannot cross-validate P1.
    seen: dict[str, int] = {}
    chosen = []
    for row in rows:
        if seen.get(row[column["subtype"]], 0) < 2:
            seen[row[column["subtype"]]] = seen.get(row[column["subtype"]], 0) + 1
            chosen.append([*row[: column["tier"]], "P1" if not chosen else "P2", *row[column["tier"] + 1 :]])
    data, held_out = tmp_path / "two_each.csv", tmp_path / "held_out.csv"
    with data.open("w", encoding="utf-8", newline="") as stream:
        csv.writer(stream).writerows([header, *chosen])
    with held_out.open("w", encoding="utf-8", newline="") as stream:
        texts = {row[column["text"]] for row in chosen}
        csv.writer(stream).writerows([header, *[row for row in rows if row[column["text"]] not in texts][:40]])
    rare = runner.invoke(
        app, ["train", "--data", str(data), "--eval", str(held_out), "--no-team-corpus", "--out", str(out)]
    )
    assert rare.exit_code == 1 and "one training row for tier 'P1'; every class needs at least 3" in rare.output
    # two rows of a class are too few as well: its calibration cross-validates within a cross-validation
    assert "only 2 training rows for subtype" in rare.output, rare.output
    assert not out.exists()


def test_a_class_of_three_rows_trains_on_all_three_rather_than_be_refused_by_the_split(
    tmp_path: Path, taxonomy: Taxonomy
) -> None:
    # Three rows of a subtype meet the minimum; the 20 % held out took one and the training was
    # refused with "only 2 training rows for subtype 'billing'", about a file that has three.
    with DEFAULT_SAMPLE.open(encoding="utf-8", newline="") as stream:
        header, *rows = list(csv.reader(stream))
    subtype = header.index("subtype")
    billing = [row for row in rows if row[subtype] == "billing"]
    data = tmp_path / "three_billing.csv"
    with data.open("w", encoding="utf-8", newline="") as stream:
        csv.writer(stream).writerows([header, *[row for row in rows if row[subtype] != "billing"], *billing[:3]])
    data_rows = load_datasets([data], taxonomy).rows
    trained, held_out = split_rows(data_rows, 0.2)
    assert sum(row.subtype == "billing" for row in trained) == 3 and all(row.subtype != "billing" for row in held_out)
    assert len(trained) + len(held_out) == len(data_rows) and len(held_out) > 0.15 * len(data_rows)
    # rows that train in any case (the team corpus) count: then one of the three may be held out
    corpus = load_datasets([DEFAULT_SAMPLE], taxonomy).rows
    _, with_corpus = split_rows(data_rows, 0.2, also_training=corpus)
    assert any(row.subtype == "billing" for row in with_corpus)
    out = tmp_path / "models"
    result = runner.invoke(app, ["train", "--data", str(data), "--no-team-corpus", "--no-refit", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "no held-out row of subtype(s) billing: too few rows to hold one out" in " ".join(result.output.split())
    (version,) = Registry(out).versions()
    assert version.metadata["training_data"]["label_counts"]["subtype"]["billing"] == 3
    # a class whose every held-out row is needed to train leaves nothing to hold out: said, not a crash
    two = tmp_path / "three_rows.csv"
    with two.open("w", encoding="utf-8", newline="") as stream:
        csv.writer(stream).writerows([header, *billing[:3]])
    few = runner.invoke(app, ["train", "--data", str(two), "--no-team-corpus", "--out", str(tmp_path / "other")])
    assert few.exit_code == 1 and "every row held out would leave a class with fewer than 3" in few.output


def test_predict_out_follows_a_link_and_writes_into_a_pipe(registry: Path, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("text\n快递三天没到，客服不回复\n", encoding="utf-8")
    target = tmp_path / "target.csv"
    target.write_text("old\n", encoding="utf-8")
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    flags = ["--registry", str(registry)]
    refused = runner.invoke(app, ["predict", "--file", str(source), "--out", str(link), *flags])
    assert refused.exit_code == 1 and "already exists" in refused.output and "--force" in refused.output
    assert target.read_text(encoding="utf-8") == "old\n"
    result = runner.invoke(app, ["predict", "--file", str(source), "--out", str(link), "--force", *flags])
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and "masked_text" in target.read_text(encoding="utf-8")
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(pipe.read_text(encoding="utf-8")))
    reader.start()
    result = runner.invoke(app, ["predict", "--file", str(source), "--out", str(pipe), *flags])
    reader.join(timeout=30)
    assert result.exit_code == 0, result.output
    assert pipe.is_fifo() and "masked_text" in received[0]  # written into, not replaced by a file


def test_a_taxonomy_that_is_a_folder_or_bad_yaml_is_one_line(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "--taxonomy", str(tmp_path), "--out", str(tmp_path / "models")])
    assert result.exit_code == 1 and "a folder; give the taxonomy file" in result.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("categories: [a, b\nsubtypes: {", encoding="utf-8")
    result = runner.invoke(app, ["train", "--taxonomy", str(bad), "--out", str(tmp_path / "models")])
    assert result.exit_code == 1 and "not valid YAML" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_repeated_rows_are_one_warning_for_the_file(registry: Path, tmp_path: Path) -> None:
    # 30 repeated rows were 30 warnings, of which 20 were shown, then "… and 10 more warnings"
    with DEFAULT_SAMPLE.open(encoding="utf-8", newline="") as stream:
        header, *rows = list(csv.reader(stream))
    column = {name: i for i, name in enumerate(header)}
    repeated = [[*row[: column["id"]], f"copy-{i}", *row[column["id"] + 1 :]] for i, row in enumerate(rows[:30])]
    data = tmp_path / "noisy.csv"
    with data.open("w", encoding="utf-8", newline="") as stream:
        csv.writer(stream).writerows([header, *rows[:100], *repeated])
    result = runner.invoke(
        app,
        ["evaluate", "--model", "current", "--data", str(data), "--registry", str(registry)],
        env={"COLUMNS": "400"},
    )
    assert result.exit_code == 0, result.output
    (warning,) = [line for line in result.output.splitlines() if line.startswith("  warning:")]
    assert warning == (
        f"  warning: {data}, column text: dropped 30 rows with the same text and labels as an earlier row: "
        "rows 102 (= row 2), 103 (= row 3), 104 (= row 4), 105 (= row 5), 106 (= row 6) and 25 more"
    )
    # and, apart, that these are texts the default model was trained on (the 30 copies dropped)
    assert "100 of the 100 rows of" in result.output and "not held-out accuracy" in result.output


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["predict"], "give either a TEXT argument or --file IN.csv --out OUT.csv"),
        (["predict", "快递慢", "--file", "in.csv"], "give either a TEXT argument or --file IN.csv --out OUT.csv"),
        (["predict", "--file", "in.csv"], "--file needs --out OUT.csv"),
        (["predict", "快递慢", "--out", "x.csv"], "--out and --force go with --file IN.csv"),
        (["train", "--eval-split", "0"], "--eval-split must be between 0 and 1, got 0.0"),
        (["train", "--eval-split", "1.5"], "--eval-split must be between 0 and 1, got 1.5"),
        (["thresholds", "--precision", "0", "--data", "holdout.csv"], "--precision must be in (0, 1], got 0.0"),
        (["thresholds", "--precision", "1.2", "--data", "holdout.csv"], "--precision must be in (0, 1], got 1.2"),
    ],
)
def test_option_mistakes_are_one_clear_line(registry: Path, tmp_path: Path, arguments: list[str], message: str) -> None:
    (tmp_path / "in.csv").write_text("text\n快递三天没到\n", encoding="utf-8")
    with DEFAULT_SAMPLE.open(encoding="utf-8", newline="") as stream:
        header, *rows = list(csv.reader(stream))
    with (tmp_path / "holdout.csv").open("w", encoding="utf-8", newline="") as stream:
        csv.writer(stream).writerows([header, *rows[:60]])
    flag = "--out" if arguments[0] == "train" else "--registry"
    place = str(tmp_path / "models") if arguments[0] == "train" else str(registry)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        result = runner.invoke(app, [*arguments, flag, place])
    finally:
        os.chdir(cwd)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert f"error: {message}" in result.output
    assert not (tmp_path / "models").exists()


def test_thresholds_refuse_a_copy_of_the_training_data_found_row_by_row(
    registry: Path, tmp_path: Path, taxonomy: Taxonomy
) -> None:
    from training.train import TRAINED_TEXTS, text_key

    (version,) = Registry(registry).versions()
    keys = set((version.path / TRAINED_TEXTS).read_text(encoding="ascii").split())
    team = {text_key(row.text) for row in load_datasets(list(TEAM_CORPUS), taxonomy).rows}
    evaluated = version.metadata["evaluation"]["rows"]
    assert version.metadata["evaluation"]["refit"] and evaluated > 50
    assert keys == team  # every text it trained on: refit, the held-out share too
    # the team corpus with a byte-order mark: another file hash, the same rows
    copy = tmp_path / "copy.csv"
    copy.write_bytes(b"\xef\xbb\xbf" + DEFAULT_SAMPLE.read_bytes())
    result = runner.invoke(app, ["thresholds", "--registry", str(registry), "--data", str(copy), "--precision", "0.9"])
    assert result.exit_code == 1
    assert f"rows of {copy} are texts version {version.version} was trained on" in result.output
