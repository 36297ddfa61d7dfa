"""The model commands of `triage`: a thin Typer layer over the functions of `training`.

The installed `triage` command is `api.cli:app`, which adds the commands that need the ticket
database or the service (export, report, sweep, notify-retry, serve) to these.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import shlex
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from model.artifact import (
    METADATA,
    PAYLOAD,
    load_model,
    read_metadata,
    verify_environment,
    verify_model,
    verify_payload,
)
from model.errors import ModelError
from model.files import replaced_atomically
from model.predictor import TriageModel
from model.taxonomy import DEFAULT_TAXONOMY, Taxonomy, load_taxonomy
from model.text import clean_text, mask_pii, without_surrogates
from training.compare import DEFAULT_MARGIN, Comparison, compare_models
from training.data import (
    CHINESE_COLUMN_NAMES,
    InputError,
    LabeledRow,
    NumberedRecords,
    Problem,
    allow_long_fields,
    broken_record,
    column_key,
    csv_error,
    find_column,
    load_datasets,
    read_input,
    renamed_columns,
    repeated_columns,
    separator_problem,
)
from training.evaluate import evaluate, few_rows_warning, predict_rows, summary, with_interval
from training.registry import HISTORY, POINTER, UNCHECKED, Registry, RegistryError, default_registry_root
from training.spreadsheet import as_text_cell, text_row
from training.thresholds import (
    NEVER,
    THRESHOLDS_FILE,
    autofill_report,
    check_precision,
    derive_thresholds,
    write_thresholds,
)
from training.train import TEAM_CORPUS, TRAIN_STEPS, TRAINED_TEXTS, DataError, text_key, train, trained_texts

app = typer.Typer(
    help="Complaint triage: train, evaluate, compare and promote the complaint classifier.", no_args_is_help=True
)
console = Console(stderr=True, soft_wrap=True)


def stdout_console() -> Console:
    """Console for tables on stdout; wide enough not to fold columns when piped."""
    return Console(width=None if sys.stdout.isatty() else 160)


# The service's own default (api.settings: `var_dir/models`), so that the CLI and the service find
# the same models when only TRIAGE_VAR_DIR is set. A parameter with a default factory has no
# default in the signature, hence the `*` before it in the commands.
REGISTRY_DEFAULT_TEXT = "$TRIAGE_VAR_DIR/models, else var/models"
RegistryOption = Annotated[
    Path,
    typer.Option(
        "--registry",
        envvar="TRIAGE_REGISTRY",
        default_factory=default_registry_root,
        show_default=REGISTRY_DEFAULT_TEXT,
        help="Model registry folder.",
    ),
]
TaxonomyOption = Annotated[Path, typer.Option("--taxonomy", envvar="TRIAGE_TAXONOMY", help="Taxonomy YAML file.")]


def _check_margin(value: float) -> float:
    # Written as a positive check so that NaN, which no comparison holds for, is refused too.
    if not 0.0 <= value < 1.0:
        raise typer.BadParameter(f"{value} is not a macro-F1 loss between 0 and 1")
    return value


MarginOption = Annotated[
    float, typer.Option("--margin", help="Macro-F1 loss tolerated on any head.", callback=_check_margin)
]


def output_file(value: str) -> Path:
    """An --out file path (`predict`, `export`), refused at once if it names a folder.

    Path() drops a trailing slash, so "scores/" would otherwise be written as a file "scores".
    """
    if value.endswith(("/", os.sep)) or Path(value).is_dir():
        raise typer.BadParameter(f"{value} names a folder; give a file path such as {Path(value) / 'out.csv'}")
    return Path(value)


def fail(message: str, code: int = 1) -> NoReturn:
    """Print an error for a person (no traceback) and exit."""
    console.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(code)


def progress() -> Progress:
    """The progress bar used by long steps."""
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), console=console
    )


def open_registry(root: Path) -> Registry:
    """The registry at `root`, or a clear error when `root` or its CURRENT pointer cannot be read."""
    registry = Registry(root)
    if root.exists() and not root.is_dir():
        fail(f"{root}: not a folder; --registry (TRIAGE_REGISTRY) names the model registry folder")
    try:
        registry.pointer()  # unreadable: every command stops; empty: those that need it say so
    except RegistryError as error:
        fail(str(error))
    return registry


def resolve_model(reference: str, registry: Registry) -> tuple[TriageModel, Path]:
    """Load a model (with its own taxonomy) from a folder path, a version id, or 'current';
    with its version folder."""
    path = Path(reference)
    try:
        if (path / METADATA).is_file():
            folder = path
        elif _names_a_folder(reference, registry):
            fail(f"--model {reference}: {_not_a_version_folder(path)}")
        else:
            folder = registry.path_of(reference)
        model, _ = load_model(folder)
    except (RegistryError, ModelError) as error:
        fail(str(error))
    return model, folder


def _names_a_folder(reference: str, registry: Registry) -> bool:
    """Whether --model names a folder rather than a version id of the registry: a path (with a
    separator, or a leading dot), or a folder here that is no version of the registry."""
    if reference == "current":
        return False
    if Path(reference).name != reference or reference.startswith("."):
        return True
    return Path(reference).exists() and not (registry.root / reference / METADATA).is_file()


def _not_a_version_folder(path: Path) -> str:
    """Why `path`, which has no metadata.json, is no model version folder."""
    hint = "give a model version folder, a version id or 'current'"
    if not path.exists():
        return f"no such folder; {hint}"
    if not path.is_dir():
        return f"not a folder; {hint}"
    try:
        versions = Registry(path).versions()
        is_registry = bool(versions) or (path / POINTER).exists()
    except (OSError, RegistryError):
        versions, is_registry = [], False
    if is_registry:
        example = f" such as {path / versions[-1].version}" if versions else ""
        return (
            f"a model registry, not a version: give one of its version folders{example}, "
            f"or --registry {path} and a version id"
        )
    return f"no {METADATA} in this folder, so it is no model version; {hint}"


def _taxonomy(path: Path) -> Taxonomy:
    try:
        return load_taxonomy(path)
    except ModelError as error:
        fail(str(error))


@app.command("train")
def train_command(
    data: Annotated[
        list[Path] | None,
        typer.Option("--data", help="Labeled CSV (repeatable). Default: the team corpus of data/ alone."),
    ] = None,
    team_corpus: Annotated[
        bool,
        typer.Option(
            "--team-corpus/--no-team-corpus",
            help="Also train on the team's own complaints in data/ (never held out, never evaluated on).",
        ),
    ] = True,
    eval_data: Annotated[Path | None, typer.Option("--eval", help="Held-out CSV to evaluate on.")] = None,
    eval_split: Annotated[
        float | None, typer.Option("--eval-split", help="Share of --data held out (default 0.2); not with --eval.")
    ] = None,
    refit: Annotated[
        bool | None,
        typer.Option(
            "--refit/--no-refit",
            help="With a held-out share of --data: once evaluated, train the saved model again on every row "
            "(its figures are then those of the same settings without the held-out share). Default: refit.",
            show_default=False,
        ),
    ] = None,
    *,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            envvar="TRIAGE_REGISTRY",
            default_factory=default_registry_root,
            show_default=REGISTRY_DEFAULT_TEXT,
            help="Registry folder that receives the version.",
        ),
    ],
    taxonomy_path: TaxonomyOption = DEFAULT_TAXONOMY,
    promote: Annotated[bool, typer.Option("--promote", help="Make the new version current right away.")] = False,
) -> None:
    """Validate the data, train, evaluate on held-out rows, and write a new model version (held out
    from --data, the rows then train the saved model too, unless --no-refit)."""
    if not data and not team_corpus:
        fail("--no-team-corpus needs --data: without --data, triage train trains on the team corpus")
    if eval_data is not None and eval_split is not None:
        fail("give --eval FILE or --eval-split SHARE, not both")
    if eval_data is not None and refit is not None:
        fail("--refit/--no-refit is for a held-out share of --data; with --eval FILE all of --data trains already")
    refit = refit is not False
    if eval_split is not None and not 0 < eval_split < 1:  # said before the files are read
        fail(f"--eval-split must be between 0 and 1, got {eval_split}")
    if data:
        unique = list({path.resolve(): path for path in data}.values())
        if len(unique) < len(data):
            console.print("[yellow]warning:[/] a --data file was given more than once; it is read once")
        data = unique
    taxonomy = _taxonomy(taxonomy_path)
    if out.exists() and not out.is_dir():
        fail(f"--out {out} is a file; give the registry folder that receives the version")
    # Checked before the minutes of training, by making (and removing) a folder where the first
    # one would go: permissions alone do not tell (root passes them on a read-only file system).
    existing = next(folder for folder in (out.absolute(), *out.absolute().parents) if folder.exists())
    try:
        tempfile.TemporaryDirectory(dir=existing, prefix=".triage-write-check-").cleanup()
    except OSError as error:
        fail(f"--out {out}: cannot be written ({existing}: {error.strerror or error})")
    registry = open_registry(out)
    steps = TRAIN_STEPS if eval_data is None and refit else TRAIN_STEPS - 1  # the refit runs on a split only
    with progress() as bar:
        task = bar.add_task("training", total=steps)
        fit_task = bar.add_task("  fit", total=None, visible=False)  # the fit's sub-steps, while it runs
        begun = 0

        def step(message: str) -> None:
            nonlocal begun  # each step that begins marks the previous one done
            bar.update(task, description=message, completed=begun)
            begun += 1

        def fit_step(name: str, done: int, total: int) -> None:
            bar.update(fit_task, description=f"  fit: {name}", completed=done, total=total, visible=True)

        try:
            result = train(
                data or list(TEAM_CORPUS),
                taxonomy,
                out,
                corpus=TEAM_CORPUS if data and team_corpus else (),
                eval_data=eval_data,
                eval_split=0.2 if eval_split is None else eval_split,
                refit=refit,
                step=step,
                fit_progress=fit_step,
            )
            bar.update(task, description="done", completed=steps)
        except DataError as error:
            for problem in error.problems:
                console.print(f"  {problem}", highlight=False, markup=False)
            if data and team_corpus and any(str(path) in str(p) for p in error.problems for path in TEAM_CORPUS):
                console.print("  (the team corpus trains too; --no-team-corpus leaves it out)", highlight=False)
            fail(f"{len(error.problems)} problem(s) in the input data; nothing was written")
        except ValueError as error:
            fail(str(error))
        except OSError as error:
            fail(f"cannot write the model version under {out} ({error.strerror}); nothing was promoted")
        except KeyboardInterrupt:  # typer would exit 130 without a word
            fail("interrupted; nothing was promoted, and a version folder is never left half written", 130)
    _print_warnings(result.warnings)
    for note in result.notes:
        console.print(f"  note: {note}", highlight=False, markup=False)
    metrics = result.metadata["metrics"]
    evaluation = result.metadata["evaluation"]
    title = f"version {result.version}: held-out {evaluation['split']}"
    if evaluation["refit"]:
        title += f", measured on a model trained without them ({evaluation['trained_rows']} rows)"
    console.print(_metrics_table(title, metrics, ("category", "subtype", "tier")))
    _warn_of_few_rows(metrics)
    console.print(f"report: {result.folder / 'report.md'}")
    try:
        make_current = promote or registry.current_version() is None
    except RegistryError as error:
        fail(f"version {result.version} was written but not made current: {error}")
    if make_current:
        try:
            registry.set_current(
                result.version, action="promote", note="at training", if_current=UNCHECKED if promote else None
            )
        except RegistryError as error:
            fail(f"version {result.version} was written but could not be made current: {error}")
        console.print(f"version {result.version} is now current")
    else:
        # the gate needs held-out rows neither version trained on: the --eval file is such rows
        held_out = f" --data {eval_data}" if eval_data is not None else ""
        if not held_out and not os.environ.get("TRIAGE_COMPARISON_DATA"):
            held_out = " --data HELD_OUT.csv"
        console.print(
            f"compare and promote with: triage compare --candidate {result.version}{held_out}, then "
            f"triage promote {result.version}{held_out}",
            highlight=False,
            soft_wrap=True,
        )
    print(result.version)


@app.command("evaluate")
def evaluate_command(
    model_ref: Annotated[str, typer.Option("--model", help="Version folder, version id or 'current'.")],
    data: Annotated[Path, typer.Option("--data", help="Labeled CSV to evaluate on.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    *,
    registry_root: RegistryOption,
) -> None:
    """Evaluate a model on labeled data: accuracy, macro-F1 and calibration per head.

    Labels are checked against the model's own taxonomy.
    """
    model, folder = resolve_model(model_ref, open_registry(registry_root))
    dataset = load_datasets([data], model.taxonomy)
    _report_problems(dataset.problems)
    with progress() as bar:
        task = bar.add_task("evaluating", total=len(dataset.rows))
        metrics = evaluate(model, dataset.rows, progress=lambda n: bar.advance(task, n))
    short = summary(metrics)
    short["model_version"] = model.version
    # Figures on texts the model was trained on are no held-out accuracy: said, never silently.
    seen = _rows_seen(dataset.rows, folder)
    short["rows_seen_in_training"] = seen
    if seen:
        console.print(
            f"[yellow]warning:[/] {seen} of the {len(dataset.rows)} rows of {data} are texts version {model.version} "
            "was trained on: these figures are not held-out accuracy",
            highlight=False,
        )
    elif seen is None:
        # A version saved without its trained texts: its metadata still names its training files.
        if _trained_on(str(dataset.files[0]["sha256"]), [(model.version, folder)]) is not None:
            console.print(
                f"[yellow]warning:[/] {data} is training data of version {model.version}: these figures are not "
                "held-out accuracy",
                highlight=False,
            )
        else:
            console.print(
                f"[yellow]note:[/] version {model.version} keeps no readable list of the texts it was trained on "
                f"({TRAINED_TEXTS}): whether rows of {data} trained it cannot be checked",
                highlight=False,
            )
    _warn_of_few_rows(metrics)
    if as_json:
        print(json.dumps(short, ensure_ascii=False))
        return
    title = f"{model.version} on {data} ({metrics['n']} rows)"
    stdout_console().print(_metrics_table(title, short, ("category", "subtype", "tier", "demand")))


def _warn_of_few_rows(metrics: dict[str, Any]) -> None:
    """Say so when the figures rest on too few held-out rows (`few_rows_warning`)."""
    warning = few_rows_warning(metrics)
    if warning is not None:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False)


def _metrics_table(title: str, metrics: dict[str, Any], heads: Sequence[str]) -> Table:
    """Accuracy and macro-F1 (each with its 95 % interval) and ECE of the `heads` that `metrics` has."""
    table = Table(title=title)
    for column in ("head", "accuracy (95 % interval)", "macro-F1 (95 % interval)", "ECE"):
        table.add_column(column)
    for head in heads:
        if head in metrics:
            m = metrics[head]
            # the demand has no calibration error: its detector gives no probability
            ece = f"{m['ece']:.3f}" if "ece" in m else "–"
            table.add_row(head, with_interval(m, "accuracy"), with_interval(m, "macro_f1"), ece)
    return table


# Every fatal problem is printed; warnings only this many (each is of a file or a column of one, but
# a training may read many files).
SHOWN_WARNINGS = 20


def _print_warnings(warnings: Sequence[object]) -> None:
    for warning in warnings[:SHOWN_WARNINGS]:
        console.print(f"  warning: {warning}", highlight=False, markup=False)
    if len(warnings) > SHOWN_WARNINGS:
        console.print(f"  … and {len(warnings) - SHOWN_WARNINGS} more warnings of the same kinds", highlight=False)


def _report_problems(problems: list[Problem]) -> None:
    fatal = [problem for problem in problems if problem.fatal]
    for problem in fatal:
        console.print(f"  {problem}", highlight=False, markup=False)
    _print_warnings([problem for problem in problems if not problem.fatal])
    if fatal:
        fail(f"{len(fatal)} problem(s) in the input data")


PREDICTION_COLUMNS = (
    "category",
    "category_p",
    "subtype",
    "subtype_p",
    "tier",
    "tier_p",
    "department",
    "demand",
    "judgeable",
    "issues",
    "masked_text",
)


class _TextArgumentCommand(typer.core.TyperCommand):
    """A command whose argument is a complaint: one that begins with '-' ("-_-||| 退款…") parses as
    options, so the error says to put it after `--`, the shell's way to end the options."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:  # Any: Click's Context, vendored by Typer
        given = list(args)  # the parser consumes `args`
        try:
            return super().parse_args(ctx, args)
        except Exception as error:  # Click's NoSuchOption (vendored by recent Typer, not exported)
            # Our options are ASCII: an unknown one that begins an argument holding any other
            # character before any "=" (Click names "-_" of "-_-||| 退款…") is a complaint's text;
            # "--flie=投诉.csv" is a mistyped option with its value.
            option = getattr(error, "option_name", None)
            text = next(
                (
                    arg
                    for arg in given
                    if isinstance(option, str) and arg.startswith(option) and not arg.split("=", 1)[0].isascii()
                ),
                None,
            )
            if text is None:
                raise
            raise typer.BadParameter(
                f"{shlex.quote(text)} begins with '-' and was read as options; put the text after '--', "
                f"as in: triage predict [OPTIONS] -- {shlex.quote(text)}",
                ctx=ctx,
                param_hint="'TEXT'",
            ) from None


@app.command("predict", cls=_TextArgumentCommand)
def predict_command(
    text: Annotated[str | None, typer.Argument(help="Complaint text to classify.")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="CSV with a text (文本) column to score.")] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Where to write the scored CSV.", parser=output_file)
    ] = None,
    model_ref: Annotated[str, typer.Option("--model", help="Version folder, version id or 'current'.")] = "current",
    batch_size: Annotated[int, typer.Option("--batch-size", min=1)] = 500,
    force: Annotated[bool, typer.Option("--force", help="Replace --out if it exists.")] = False,
    *,
    registry_root: RegistryOption,
) -> None:
    """Classify one text (printed as JSON) or a whole CSV file (--file IN.csv --out OUT.csv).

    An existing --out file is replaced only with --force, and only once every row is scored.
    """
    if (text is None) == (file is None):
        fail("give either a TEXT argument or --file IN.csv --out OUT.csv")
    if text is not None and (out is not None or force):
        fail("--out and --force go with --file IN.csv; a TEXT argument's prediction is printed as JSON")
    model, _ = resolve_model(model_ref, open_registry(registry_root))
    if text is not None:
        # A byte of the command line that is no UTF-8 arrives as a lone surrogate, which stdout
        # would write back as that byte: replaced (U+FFFD) first, as the service's classify does.
        print(json.dumps(model.predict(without_surrogates(text)).to_dict(), ensure_ascii=False, indent=2))
        return
    assert file is not None
    if out is None:
        fail("--file needs --out OUT.csv")
    if out.exists() and file.exists() and out.resolve() == file.resolve():
        fail(f"--out {out} is the input file; write the scores to another file")
    if not out.parent.is_dir():
        fail(f"--out {out}: its folder does not exist; give a file path in an existing folder")
    if out.is_file() and not force:  # said before anything is read (and checked again when written)
        fail(out_exists(out))
    try:
        _, content = read_input(file)  # as `triage train` reads it
    except InputError as error:
        fail(f"{file}: {error}")
    allow_long_fields()  # an over-long text is scored (clipped and flagged), as the API would
    rows: list[dict[str, Any]] = []
    records = NumberedRecords(io.StringIO(content, newline=""))
    try:
        header = records.header
        if not header:
            fail(f"{file}: empty file, no header row")
        unusable = separator_problem(header) or repeated_columns(header)
        # The text column named as a labelled file may name it (文本, Text): the same reading.
        text_name, clash = find_column(header, "text")
        if unusable is None and text_name is None:
            names = " or ".join(("text", *CHINESE_COLUMN_NAMES["text"]))
            unusable = clash or f"no text column (named {names}; header is {', '.join(header)})"
        renamed = repeated_columns([_given(name) for name in header])
        if unusable is None and renamed is not None:
            unusable = f"{renamed} (a column named as a prediction column is renamed given_<name> in the output)"
        if unusable is None and header.count("") > 1:  # copied to the output, all but one would be lost
            unusable = f"{header.count('')} columns have no name"
        if unusable is not None or text_name is None:
            fail(f"{file}, row {records.row}: {unusable}")
        if text_name != "text":
            warning = f"{file}, row {records.row}: {renamed_columns({text_name: 'text'})}"
            console.print(f"[yellow]warning:[/] {escape(warning)}", highlight=False)
        for number, record in records:
            broken = broken_record(record, header, records.width, text_column=text_name)
            if broken is not None:
                column, message = broken
                fail(f"{file}, row {number}{f', column {column}' if column else ''}: {message}")
            rows.append({"text" if name == text_name else str(name): value for name, value in record.items()})
    except csv.Error as error:
        fail(f"{file}, row {records.row + 1}: {csv_error(error)}")
    if not rows:
        console.print(f"[yellow]warning:[/] {file} has a header and no rows: {out} gets the header only")
    try:
        scored = _score(model, rows, batch_size)
    except KeyboardInterrupt:  # typer would exit 130 without a word
        fail(f"interrupted; {out} was {'left as it was' if out.exists() else 'not written'}", 130)
    # The raw text is left out (masked_text replaces it); the input's own labels stay, renamed.
    columns = [_given(name) for name in header if name != text_name] + list(PREDICTION_COLUMNS)
    try:  # an existing OUT is never left half written
        with replaced_atomically(out, newline="", overwrite=force) as stream:
            csv.writer(stream).writerow(map(as_text_cell, columns))  # the input's column names are cells too
            writer = csv.DictWriter(stream, fieldnames=columns, extrasaction="ignore")
            writer.writerows(map(text_row, scored))
    except FileExistsError:  # made while the rows were scored
        fail(out_exists(out))
    except OSError as error:
        fail(f"--out {out}: cannot write ({error.strerror})")
    console.print(f"wrote {len(scored)} rows to {out}")


def _score(model: TriageModel, rows: list[dict[str, Any]], batch_size: int) -> list[dict[str, Any]]:
    """The rows of `predict --file` with their predictions, in batches, with a progress bar."""
    scored: list[dict[str, Any]] = []
    with progress() as bar:
        task = bar.add_task("scoring", total=len(rows))
        for start in range(0, len(rows), batch_size):
            batch = rows[start : start + batch_size]
            # Control characters (a NUL, a terminal escape) are dropped as the service drops them
            # from a ticket's text; the input's other columns too may hold a phone number or an e-mail.
            texts = [clean_text(row["text"] or "") for row in batch]
            for row, p in zip(batch, model.predict_many(texts)):
                scored.append(
                    {
                        **{
                            _given(name): mask_pii(clean_text(value or ""))
                            for name, value in row.items()
                            if name != "text"
                        },
                        "category": p.category.code,
                        "category_p": p.category.probability,
                        "subtype": p.subtype.code,
                        "subtype_p": p.subtype.probability,
                        "tier": p.tier.code,
                        "tier_p": p.tier.probability,
                        "department": p.department.code,
                        "demand": p.demand.code,
                        "judgeable": p.judgeable,
                        "issues": ";".join(p.issues),
                        "masked_text": p.masked_text,
                    }
                )
            bar.advance(task, len(batch))
    return scored


def out_exists(out: Path) -> str:
    """Why an existing --out file was not replaced (`predict`, `export`: they need --force)."""
    return f"--out {out} already exists; nothing was written (give --force to replace it, or another file name)"


def _given(column: str) -> str:
    """An input column's name in the scored file: as written, or `given_<name>` when it names a
    prediction column (in any case or width: "Category" beside "category" would read as one)."""
    return f"given_{column}" if column_key(column) in PREDICTION_COLUMNS else column


@app.command("models")
def models_command(*, registry_root: RegistryOption) -> None:
    """List model versions with their held-out metrics; * marks the one in service.

    A hidden staging folder of a version being saved (`.VERSION.*`) is never listed as a version;
    it is named below the table, with what removes it.

    The status column says whether each version can be loaded: its payload is checked against the
    SHA-256 of its metadata and the libraries and resources it was made with against those in use
    (as promote, rollback and predict check them; nothing is unpickled).
    """
    registry = open_registry(registry_root)
    table = Table(title=str(registry_root))
    for column in ("", "version", "created", "rows", "category F1", "subtype F1", "tier F1", "evaluated on", "status"):
        # the ids and times whole: the split and the status wrap at their spaces instead
        table.add_column(column, no_wrap=column in ("version", "created"))
    versions, unreadable = registry.scan()
    problems: dict[str, ModelError | None] = {}
    held_out_sets = set()
    for info in versions:
        try:
            cells = _version_cells(info.metadata)
            held_out_sets.add(_held_out_set(info.metadata.get("evaluation") or {}))
        except (AttributeError, KeyError, TypeError, ValueError):
            unreadable[info.version] = f"{info.path / 'metadata.json'}: its figures are not in the expected form"
            continue
        status, problems[info.version] = _check_version(info.path, info.metadata)
        table.add_row("*" if info.current else "", info.version, *cells, status)
    if table.row_count:
        stdout_console().print(table)
        if len(held_out_sets) > 1:
            stdout_console().print(
                "note: each version's figures are on its own held-out rows (evaluated on), which differ here: "
                "they do not compare across rows; compare two versions on one file with "
                "triage compare --candidate V --data HELD_OUT.csv",
                highlight=False,
                soft_wrap=True,
            )
    elif unreadable:  # not "train one": there are versions, and what is wrong with them is said below
        stdout_console().print(f"no readable model versions in {registry_root}", highlight=False)
    elif not registry_root.exists():  # a typo in --registry or TRIAGE_REGISTRY, as likely as no model yet
        stdout_console().print(
            f"no model registry at {registry_root} (no such folder); check --registry or TRIAGE_REGISTRY, "
            "or train one with: triage train",
            highlight=False,
        )
    else:
        stdout_console().print(f"no model versions in {registry_root}; train one with: triage train", highlight=False)
    try:
        current_version = registry.current_version()
    except RegistryError as error:
        current_version = None
        console.print(f"[yellow]warning:[/] {error}", highlight=False)
    for version, problem in unreadable.items():
        current = " (in service)" if version == current_version else ""
        stdout_console().print(f"not listed: {version}{current}: {problem}", highlight=False, soft_wrap=True)
    for staging in registry.staging_folders():
        if staging.stale:
            said = (
                f"left by a training killed while it saved, {staging.age} ago: the next `triage train` removes it, "
                f"or remove it now: rm -r {shlex.quote(str(staging.path))}"
            )
        else:
            said = (
                f"changed {staging.age} ago: a training saving a version now, or one killed while it saved; "
                "the next `triage train` removes it once it is an hour old"
            )
        stdout_console().print(f"not a version: {staging.path}: {said}", highlight=False, soft_wrap=True)
    if current_version is not None and current_version not in unreadable:
        # the pointer and the payload: what the service needs to load it (checked above when listed)
        in_service: Exception | None = problems.get(current_version)
        if current_version not in problems:
            try:
                verify_model(registry.path_of(current_version))
            except (RegistryError, ModelError) as error:
                in_service = error
        if in_service is not None:
            message = f"warning: the version in service ({registry.root / POINTER}: {current_version}) cannot be loaded"
            stdout_console().print(f"{message}: {in_service}", highlight=False, soft_wrap=True)


def _check_version(folder: Path, metadata: dict[str, Any]) -> tuple[str, ModelError | None]:
    """A listed version's cell in the status column of `models`, and what stops it from loading:
    "ok"; "damaged: corrupt payload" (its payload is missing or not the SHA-256 its `metadata`
    records); "cannot be loaded: made with scikit-learn 1.5.2" (the libraries or resources in use).
    The reason is cut short; the commands that refuse the version give it whole."""
    try:
        verify_payload(folder, metadata)
    except ModelError as error:
        return f"damaged: {_short_reason(error, folder)}", error
    try:
        verify_environment(folder, metadata)
    except ModelError as error:
        return f"cannot be loaded: {_short_reason(error, folder)}", error
    return "ok", None


def _short_reason(error: ModelError, folder: Path) -> str:
    """The message of `error` without the path it begins with, up to its first aside or comma."""
    message = str(error)
    for prefix in (f"{folder / PAYLOAD}: ", f"{folder}: "):
        message = message.removeprefix(prefix)
    return re.split(r" \(|; |, ", message, maxsplit=1)[0]


def _version_cells(metadata: dict[str, Any]) -> list[str]:
    """created, rows, the three macro-F1 and the evaluation split (refit or not) of a version's metadata."""
    metrics = metadata.get("metrics") or {}
    return [
        str(metadata.get("created_at", "")),
        str((metadata.get("training_data") or {}).get("rows_used", "")),
        *[f"{float(metrics[h]['macro_f1']):.3f}" if h in metrics else "–" for h in ("category", "subtype", "tier")],
        _evaluated_on(metadata.get("evaluation") or {}),
    ]


def _held_out_set(evaluation: dict[str, Any]) -> tuple[str, ...]:
    """What tells a version's held-out rows from another's: the split and its files' SHA-256."""
    files = [item for item in evaluation.get("files") or [] if isinstance(item, dict)]
    return (str(evaluation.get("split", "")), *(str(item.get("sha256", "")) for item in files))


def _evaluated_on(evaluation: dict[str, Any]) -> str:
    """The split a version's figures come from, and whether it was then refit on those rows."""
    split = str(evaluation.get("split", ""))
    return f"{split}, then refit on all rows" if evaluation.get("refit") else split


def _comparison_rows(data: Path, model: TriageModel) -> tuple[list[LabeledRow], str]:
    """The rows of a held-out file, and the file's SHA-256 as training metadata records files."""
    dataset = load_datasets([data], model.taxonomy)
    _report_problems(dataset.problems)
    return dataset.rows, str(dataset.files[0]["sha256"])


def _delta_with_interval(delta: float, interval: list[float] | None) -> str:
    """A macro-F1 delta with its paired 95 % interval: "+0.012 (−0.018 to +0.041)"."""
    text = f"{delta:+.3f}"
    return f"{text} ({interval[0]:+.3f} to {interval[1]:+.3f})" if interval else text


def _print_comparison(comparison: Comparison, show: int, unfit: str | None = None) -> None:
    out = stdout_console()
    if unfit is not None:
        out.print(
            f"not a fair comparison: {unfit}; the figures below cannot judge the models",
            highlight=False,
            soft_wrap=True,
        )
    for warning in comparison.warnings:  # two taxonomies
        out.print(f"warning: {warning}", highlight=False, soft_wrap=True)
    table = Table(title=f"{comparison.candidate_version} (candidate) vs {comparison.baseline_version} (baseline)")
    for column in ("head", "class", "candidate F1", "baseline F1", "delta (95 % interval)"):
        table.add_column(column)
    summary_ = comparison.to_dict()
    for head, figures in summary_["heads"].items():
        table.add_row(
            head,
            "macro",
            f"{figures['candidate']['macro_f1']:.3f}",
            f"{figures['baseline']['macro_f1']:.3f}",
            _delta_with_interval(figures["delta_macro_f1"], figures["delta_macro_f1_interval"]),
            style="bold",
        )
        for label, f1 in figures["per_class_f1"].items():
            table.add_row(
                "", label, f"{f1['candidate']:.3f}", f"{f1['baseline']:.3f}", f"{f1['candidate'] - f1['baseline']:+.3f}"
            )
    out.print(table)
    shown = min(show, len(comparison.disagreements))
    listed = "" if not shown else ":" if shown == len(comparison.disagreements) else f"; the first {shown}:"
    out.print(f"{len(comparison.disagreements)} of {summary_['n']} rows labeled differently{listed}")
    for item in comparison.disagreements[:show]:
        out.print(
            f"  {item.row.file}, row {item.row.row}: truth {'/'.join(item.row.labels)}; "
            f"candidate {'/'.join(item.candidate)}; baseline {'/'.join(item.baseline)}",
            highlight=False,
            markup=False,
        )
    verdict = (
        comparison.explain() if unfit is None else f"unfit ({unfit}); the figures alone say: {comparison.explain()}"
    )
    out.print(f"verdict: {verdict}", highlight=False, soft_wrap=True)


@app.command("compare")
def compare_command(
    candidate: Annotated[str, typer.Option("--candidate", help="Version id or folder of the candidate.")],
    data: Annotated[Path, typer.Option("--data", help="Labeled CSV both models are scored on (held out).")],
    baseline: Annotated[str, typer.Option("--baseline", help="Version id, folder or 'current'.")] = "current",
    margin: MarginOption = DEFAULT_MARGIN,
    show: Annotated[int, typer.Option("--show", min=0, help="Disagreeing rows to print.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    *,
    registry_root: RegistryOption,
) -> None:
    """Score two models on the same rows: per-head and per-class F1, disagreements, verdict."""
    registry = open_registry(registry_root)
    candidate_model, candidate_folder = resolve_model(candidate, registry)
    baseline_model, baseline_folder = resolve_model(baseline, registry)
    rows, digest = _comparison_rows(data, candidate_model)
    versions = ((candidate_model.version, candidate_folder), (baseline_model.version, baseline_folder))
    problem = _unfit_for_comparison(data, rows, digest, versions)
    comparison = compare_models(candidate_model, baseline_model, rows, margin)
    if as_json:
        for warning in [*([problem] if problem is not None else []), *comparison.warnings]:
            console.print(f"[yellow]warning:[/] {warning}", highlight=False)
        print(json.dumps(_comparison_json(comparison, problem), ensure_ascii=False))
    else:
        _print_comparison(comparison, show, problem)


def _comparison_json(comparison: Comparison, unfit: str | None) -> dict[str, Any]:
    """The comparison as `compare --json` prints it: when the file cannot judge the models, the
    verdict is "unfit", `unfit` says why, and `figures_verdict` is what the figures alone say."""
    result = comparison.to_dict()
    if unfit is not None:
        result = {**result, "verdict": "unfit", "unfit": unfit, "figures_verdict": comparison.verdict}
    return result


# Fewer held-out rows than this and the gate's verdict is noise (a macro-F1 on 20 rows moves by
# tens of points with one row).
MIN_GATE_ROWS = 50


def _trained_on(digest: str, versions: Sequence[tuple[str, Path]]) -> str | None:
    """The first of `versions` (id, folder) whose metadata lists a training file with this SHA-256, or None."""
    for version, folder in versions:
        try:
            training = read_metadata(folder).get("training_data")
        except ModelError:
            continue
        files = training.get("files") if isinstance(training, dict) else None
        if isinstance(files, list) and any(isinstance(item, dict) and item.get("sha256") == digest for item in files):
            return version
    return None


def _rows_seen(rows: Sequence[LabeledRow], folder: Path) -> int | None:
    """How many of `rows` are texts the version in `folder` was trained on (None: it does not say)."""
    seen = trained_texts(folder)
    return None if seen is None else sum(text_key(row.text) in seen for row in rows)


# A comparison file may share a few texts with a model's training data by chance (the same short
# complaint written twice); from this share on, it is no held-out set for that model.
MAX_TRAINED_SHARE = 0.05


def _seen_in_training(
    data: Path, rows: Sequence[LabeledRow], digest: str, versions: Sequence[tuple[str, Path]]
) -> str | None:
    """Why `data` (SHA-256 `digest`) is no held-out set for the versions (id, folder): it is one of
    their training files, or at least `MAX_TRAINED_SHARE` of its rows are texts one was trained on."""
    trained = _trained_on(digest, versions)
    if trained is not None:
        return f"{data} is training data of version {trained}, not held out"
    for version, folder in versions:
        overlap = _rows_seen(rows, folder) or 0
        if rows and overlap >= MAX_TRAINED_SHARE * len(rows):
            return f"{overlap} of the {len(rows)} rows of {data} are texts version {version} was trained on"
    return None


def _unfit_for_comparison(
    data: Path, rows: Sequence[LabeledRow], digest: str, versions: Sequence[tuple[str, Path]]
) -> str | None:
    """Why `data` cannot judge the versions (id, folder): too few rows, or rows they were trained on."""
    if len(rows) < MIN_GATE_ROWS:
        return f"{data} has {len(rows)} rows; a comparison needs at least {MIN_GATE_ROWS} held-out rows"
    return _seen_in_training(data, rows, digest, versions)


@app.command("promote")
def promote_command(
    version: Annotated[str, typer.Argument(help="Version id to make current.")],
    data: Annotated[
        Path | None,
        typer.Option(
            "--data", envvar="TRIAGE_COMPARISON_DATA", help="Held-out CSV for the gate (needed once a model serves)."
        ),
    ] = None,
    margin: MarginOption = DEFAULT_MARGIN,
    force: Annotated[bool, typer.Option("--force", help="Promote even when the gate refuses (recorded).")] = False,
    actor: Annotated[str, typer.Option("--actor", envvar="USER", help="Who promotes (recorded).")] = "",
    *,
    registry_root: RegistryOption,
) -> None:
    """Make a version current unless it is worse than the current one on the comparison set.

    Promoting the version already in service changes nothing, records nothing and exits 0 (a retry).
    """
    registry = open_registry(registry_root)
    try:
        version = registry.path_of(version).name  # 'current' names the version it points at
    except RegistryError as error:
        fail(str(error))
    note = "first model"
    forced = False  # recorded only when --force overrode a refusal, not when the gate passed
    repair = False  # CURRENT could not be read: whatever it holds is replaced
    try:
        current = registry.current_version()
    except RegistryError as error:
        if not force:
            fail(str(error))
        current, note, forced = None, f"repair of the pointer: {error}", True
        repair = True
    if current == version:
        # A retry of a promotion that went through (or a second analyst's): nothing to change or record.
        console.print(f"version {version} is already current (in service); nothing was changed", highlight=False)
        return
    candidate_model, candidate_folder = resolve_model(version, registry)
    if current is not None:
        try:
            current_folder = registry.path_of(current)
            current_model, _ = load_model(current_folder)
        except (RegistryError, ModelError) as error:
            # A version this release cannot load (an older model format, say) cannot be compared.
            note = f"the version in service, {current}, cannot be loaded, so nothing was compared: {error}"
            if not force:
                fail(f"promotion refused: {note}; use --force to promote without the gate (it is recorded)")
            forced = True
        else:
            if data is None:
                fail("the gate needs a held-out comparison set: give --data CSV (or set TRIAGE_COMPARISON_DATA)")
            rows, digest = _comparison_rows(data, candidate_model)
            problem = _unfit_for_comparison(
                data, rows, digest, ((version, candidate_folder), (current, current_folder))
            )
            if problem is not None and not force:
                fail(f"promotion refused: {problem}; use --force to promote anyway (it is recorded)")
            comparison = compare_models(candidate_model, current_model, rows, margin)
            for warning in comparison.warnings:  # two taxonomies: said, the gate judges the figures still
                console.print(f"[yellow]warning:[/] {warning}", highlight=False)
            note = comparison.explain() + (f" ({problem})" if problem else "")
            if comparison.verdict == "worse" and not force:
                fail(f"promotion refused: {note}; use --force to override (it is recorded)")
            forced = problem is not None or comparison.verdict == "worse"
    try:
        # judged against `current`: refused if another promotion or a rollback replaced it meanwhile
        registry.set_current(
            version,
            action="promote",
            forced=forced,
            actor=actor,
            note=note,
            if_current=UNCHECKED if repair else current,
        )
    except RegistryError as error:
        fail(str(error))
    console.print(f"version {version} is now current{' (forced)' if forced else ''}: {note}", highlight=False)


@app.command("thresholds")
def thresholds_command(
    precision: Annotated[float, typer.Option("--precision", help="Precision auto-filled predictions must reach.")],
    data: Annotated[Path, typer.Option("--data", help="Held-out labeled CSV (not the model's training data).")],
    model_ref: Annotated[str, typer.Option("--model", help="Version id, folder or 'current'.")] = "current",
    min_support: Annotated[
        int, typer.Option("--min-support", min=1, help="Predictions a class needs for its own threshold.")
    ] = 20,
    *,
    registry_root: RegistryOption,
) -> None:
    """Derive per-head and per-class confidence thresholds and write them beside the model."""
    try:
        check_precision(precision)  # said before any file is read
    except ValueError as error:
        fail(str(error))
    registry = open_registry(registry_root)
    model, folder = resolve_model(model_ref, registry)
    rows, digest = _comparison_rows(data, model)
    seen = _seen_in_training(data, rows, digest, [(model.version, folder)])
    if seen is not None:
        fail(f"{seen}: thresholds need held-out rows, or they promise too much")
    if len(rows) < 2 * min_support:
        # The split-half check below needs --min-support rows on each side to mean anything.
        fail(f"{data}: {len(rows)} rows; thresholds need at least {2 * min_support} (twice --min-support)")
    predictions = predict_rows(model, rows)
    try:
        thresholds = derive_thresholds(rows, predictions, precision, min_support)
    except ValueError as error:
        fail(str(error))
    # Honesty check: thresholds fitted on one half of the rows, measured on the other.
    half = len(rows) // 2
    check = autofill_report(
        derive_thresholds(rows[:half], predictions[:half], precision, min_support), rows[half:], predictions[half:]
    )
    try:
        path = write_thresholds(
            folder, thresholds, {"data": str(data.resolve()), "rows": len(rows), "model": model.version}
        )
    except OSError as error:
        fail(f"{folder / THRESHOLDS_FILE}: cannot be written ({error.strerror})")
    report = autofill_report(thresholds, rows, predictions)
    out = stdout_console()
    table = Table(title=f"thresholds for precision {precision:.2f} on {data} ({len(rows)} rows)")
    for column in ("head", "default", "per class"):
        table.add_column(column)
    for head, value in thresholds.heads.items():
        classes = ", ".join(f"{code} {t:.2f}" for code, t in thresholds.per_class[head].items())
        table.add_row(head, f"{value:.2f}", classes)
    out.print(table)
    per_class = [t for classes in thresholds.per_class.values() for t in classes.values()]
    if any(t > 1 for t in [*thresholds.heads.values(), *per_class]):
        out.print(
            f"a threshold above 1 ({NEVER:.2f}): no probability reaches it, so the class is never auto-filled: "
            f"its predictions always go to review (no threshold reaches precision {precision:g} on these rows)",
            highlight=False,
            soft_wrap=True,
        )
    out.print(
        f"auto-filled: {report['share']:.1%} of rows ({report['autofilled']}/{report['n']}); "
        f"split-half check: {check['share']:.1%} auto-filled with precision "
        + ", ".join(f"{h} {_share(check[h + '_precision'])}" for h in ("category", "subtype", "tier")),
        highlight=False,
    )
    short = [
        f"{head} {check[head + '_precision']:.3f}"
        for head in ("category", "subtype", "tier")
        if check[head + "_precision"] is not None and check[head + "_precision"] < precision
    ]
    if short:
        console.print(
            f"[yellow]warning:[/] thresholds fitted on one half of the rows reach less than {precision:g} on the "
            f"other half ({', '.join(short)}): expect the auto-filled tickets to fall short of it as well; more "
            "held-out rows make the thresholds surer",
            highlight=False,
        )
    out.print(f"wrote {path}")


def _share(value: float | None) -> str:
    """A precision as printed: three decimals, or "n/a" when nothing was auto-filled."""
    return "n/a" if value is None else f"{value:.3f}"


@app.command("rollback")
def rollback_command(
    actor: Annotated[str, typer.Option("--actor", envvar="USER", help="Who rolls back (recorded).")] = "",
    *,
    registry_root: RegistryOption,
) -> None:
    """Return to the version that served before the current one.

    A line of the history that cannot be read is skipped with a warning naming the file and the
    line, and the others decide (the file is left as it is).
    """
    registry = open_registry(registry_root)
    try:
        current = registry.current_version()
        if current is None:
            fail("nothing to roll back: no version is current")
        history = registry.read_history()
        for _, note in history.skipped:
            console.print(f"[yellow]warning:[/] {note}", highlight=False)
        entries, skipped = history.entries, history.skipped
        unreadable = registry.unreadable_after_current(history)
        if unreadable is not None:
            fail(
                f"line {unreadable} of {registry.root / HISTORY}, after the last readable change to version "
                f"{current}, the version in service, could not be read: it may be that change, so the version "
                "before it is unknown; `triage promote VERSION --force` names the one to serve (see `triage models`)"
            )
        previous = registry.previous_version(history)
        if previous is None or previous == current:
            if not (registry.root / current / METADATA).is_file():
                # previous_version finds none when the history never names the version CURRENT names
                fail(
                    f"{registry.root / POINTER} names version '{current}', which is not in the registry: "
                    "the version in service is unknown; `triage promote VERSION --force` names one "
                    "(see `triage models`)"
                )
            if skipped and not any(entry["version"] == current for entry in entries):
                fail(
                    f"no readable line of {registry.root / HISTORY} records the change to version {current}, "
                    f"the version in service ({len(skipped)} line(s) skipped): the version before it is unknown; "
                    "`triage promote VERSION --force` names the one to serve (see `triage models`)"
                )
            readable = " in the lines of the history that could be read" if skipped else ""
            fail(f"nothing to roll back to: no version served before the current one{readable}")
        verify_model(registry.path_of(previous))  # the service could not load it either
        registry.set_current(previous, action="rollback", actor=actor, if_current=current)
    except (RegistryError, ModelError) as error:
        fail(f"cannot roll back: {error}")
    console.print(f"version {previous} is now current")


def main() -> None:
    """Entry point for `python -m training.cli` (the model commands only)."""
    app(sys.argv[1:])


if __name__ == "__main__":
    main()
