"""Train a model version: validate data, hold out evaluation rows, fit, evaluate, save, report."""

from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sklearn.model_selection import train_test_split

from model.artifact import new_version_id, save_model
from model.classifier import ComplaintClassifier, FitProgress
from model.predictor import TriageModel
from model.taxonomy import Taxonomy
from model.text import normalise
from training.data import Dataset, LabeledRow, Problem, load_datasets, shown_rows, unjudgeable_warning
from training.evaluate import HEADS, evaluate_predictions, predict_rows
from training.registry import Registry
from training.report import write_report

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
DEFAULT_SAMPLE = DATA_DIR / "sample_complaints.csv"
# The complaints this team wrote itself: the sample corpus (every subtype, every channel) and
# reviews in the style of the four domains of the labeled data. `triage train` adds them to the
# training rows of any data (never to the held-out rows); plain `triage train` trains on them alone.
TEAM_CORPUS = (DEFAULT_SAMPLE, DATA_DIR / "domain_complaints.csv")
SEED = 20261123
TRAIN_STEPS = 5  # the calls of `step` in `train`: validate, fit, evaluate, refit (held-out share only), save
# The heads calibrate by cross-validation inside the cross-validation of the tier stacking:
# with two rows a class has one in a fold's training part, which cannot be split again.
MIN_CLASS_ROWS = 3
# Beside the model: one line per text it was trained on, a hash of the normalised text, so that
# a comparison file can be checked row by row for rows the model has seen (the gate's check).
TRAINED_TEXTS = "trained_texts.sha256"


def text_key(text: str) -> str:
    """What `TRAINED_TEXTS` holds for a text: the first 16 hex digits of SHA-256 of its normalised form."""
    return hashlib.sha256(normalise(text).encode("utf-8")).hexdigest()[:16]


def trained_texts(folder: Path) -> frozenset[str] | None:
    """The text keys a version was trained on (None for a version saved without them)."""
    try:
        return frozenset((folder / TRAINED_TEXTS).read_text(encoding="ascii").split())
    except (OSError, UnicodeDecodeError):
        return None


class DataError(Exception):
    """Input data with fatal problems; `problems` lists every one of them."""

    def __init__(self, dataset: Dataset) -> None:
        self.problems = dataset.fatal
        lines = "\n".join(str(problem) for problem in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in the input data; nothing was written:\n{lines}")


@dataclass(frozen=True)
class TrainResult:
    """What `train` produced: the version folder, its metadata, the data warnings, and notes on the
    registry (staging folders of killed trainings it removed)."""

    version: str
    folder: Path
    metadata: dict[str, Any]
    warnings: list[str]
    notes: list[str] = field(default_factory=list)


def fit_model(
    rows: Sequence[LabeledRow],
    taxonomy: Taxonomy,
    version: str = "",
    corpus: Sequence[LabeledRow] = (),
    progress: FitProgress | None = None,
    **params: Any,
) -> TriageModel:
    """Fit the classifier on labeled rows plus `corpus` rows (parameters override the classifier's
    defaults). The heads' final calibration (temperature and confidence map) is fitted on `rows` alone.
    `progress` is told as each sub-step of the fit begins (see `ComplaintClassifier.fit`)."""
    subtype_categories = {code: subtype.category for code, subtype in taxonomy.subtypes.items()}
    params = {"cue_groups": dict(taxonomy.tier_cues), **params}
    classifier = ComplaintClassifier(subtype_categories=subtype_categories, **params)
    every = [*rows, *corpus]
    classifier.fit(
        [normalise(row.text) for row in every],
        [row.labels for row in every],
        calibrate_on=[True] * len(rows) + [False] * len(corpus),
        progress=progress,
    )
    return TriageModel(taxonomy, classifier, version)


def percent(fraction: float) -> str:
    """A share as a percentage with as few decimals as show it (within 0.1 % of itself): 20%,
    99.9%, 0.0000001%; a share strictly between 0 and 1 never reads 0% or 100%."""
    for digits in range(16):
        text = f"{fraction:.{digits}%}"
        shown = float(text[:-1]) / 100
        if abs(shown - fraction) <= 1e-3 * abs(fraction) and (shown not in (0, 1) or fraction in (0, 1)):
            return text
    return f"{fraction:%}"


def split_rows(
    rows: Sequence[LabeledRow], fraction: float, also_training: Sequence[LabeledRow] = ()
) -> tuple[list[LabeledRow], list[LabeledRow]]:
    """A stratified (by subtype) train/held-out split; subtypes too rare to split stay in train.

    A held-out row whose category, subtype or tier would be left with fewer than `MIN_CLASS_ROWS`
    training rows (counting `also_training`, the rows that train in any case) trains instead: a
    class of three rows trains on all three rather than being refused for having two.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"--eval-split must be between 0 and 1, got {fraction}")
    counts: dict[str, int] = {}
    for row in rows:
        counts[row.subtype] = counts.get(row.subtype, 0) + 1
    splittable = [row for row in rows if counts[row.subtype] >= 2]
    kept = [row for row in rows if counts[row.subtype] < 2]
    subtypes = len({row.subtype for row in splittable})
    held_out = math.ceil(fraction * len(splittable))  # as train_test_split counts it
    if not splittable or held_out < subtypes or len(splittable) - held_out < subtypes:
        raise ValueError(
            f"{len(rows)} rows are too few to hold out {percent(fraction)} with every one of {subtypes} subtypes on "
            "both sides; give more data or a held-out file with --eval"
        )
    train_rows, eval_rows = train_test_split(
        splittable, test_size=fraction, random_state=SEED, stratify=[row.subtype for row in splittable]
    )
    train_rows = [*train_rows, *kept]
    training = {head: Counter(getattr(row, head) for row in [*train_rows, *also_training]) for head in HEADS}
    kept_out = []
    for row in eval_rows:
        if any(training[head][getattr(row, head)] < MIN_CLASS_ROWS for head in HEADS):
            train_rows.append(row)
            for head in HEADS:
                training[head][getattr(row, head)] += 1
        else:
            kept_out.append(row)
    if not kept_out:
        raise ValueError(
            f"{len(rows)} rows are too few to hold out {percent(fraction)}: every row held out would leave a class "
            f"with fewer than {MIN_CLASS_ROWS} rows to train on; give more data or a held-out file with --eval"
        )
    return train_rows, kept_out


def train(
    data: Sequence[Path],
    taxonomy: Taxonomy,
    registry_root: Path,
    *,
    corpus: Sequence[Path] = (),
    eval_data: Path | None = None,
    eval_split: float = 0.2,
    refit: bool = True,
    params: dict[str, Any] | None = None,
    step: Callable[[str], None] = lambda message: None,
    fit_progress: FitProgress | None = None,
) -> TrainResult:
    """Validate, train, evaluate on held-out rows and write a new version folder with its report.

    `corpus` files (such as `TEAM_CORPUS`) are validated like `data` but only ever train: the
    held-out rows come from `eval_data`, or from `data` alone. When they are a share of `data`
    (no `eval_data`) and `refit` is true, the model evaluated on them is then fitted again, with
    the same settings, on every row, and that one is saved: its figures are those of its twin
    trained without the held-out share (every labelled row counts, `bench/learning_curve.py`; the
    saved model itself is not measured). Raises DataError (listing every fatal problem) before
    writing anything. `step` is told as each of the `TRAIN_STEPS` steps begins (the refit's only
    when it runs), `fit_progress` as each sub-step of the fit does. Before saving, the staging
    folders that trainings killed while saving left in the registry an hour ago or more are removed
    (`Registry.remove_stale_staging`; `notes` of the result says which). Rows whose text the model
    cannot judge (English only, a character or two), outside the team corpus, are trained on and
    counted in the first of the warnings (`unjudgeable_warning`).
    """
    step("validating data")
    given = {path.resolve() for path in data}
    corpus = [path for path in corpus if path.resolve() not in given]  # a file given as data is data
    dataset = load_datasets([*data, *corpus], taxonomy)
    eval_set = load_datasets([eval_data], taxonomy) if eval_data is not None else None
    if eval_set is not None:
        dataset.problems.extend(eval_set.problems)
    if dataset.fatal:
        raise DataError(dataset)
    corpus_files = {str(path) for path in corpus}
    # Rows the model cannot judge, in the files given (the team corpus holds a few short reviews
    # on purpose, such as 太慢了; plain `triage train` trains on it alone and says nothing of them).
    team_files = {path.resolve() for path in (*TEAM_CORPUS, *corpus)}
    unjudgeable = [
        (row, issues)
        for row, issues in [*dataset.unjudgeable, *(eval_set.unjudgeable if eval_set is not None else [])]
        if Path(row.file).resolve() not in team_files
    ]
    corpus_rows = [row for row in dataset.rows if row.file in corpus_files]
    data_rows = [row for row in dataset.rows if row.file not in corpus_files]
    if eval_data is not None and eval_set is not None:
        train_rows, eval_rows = data_rows, eval_set.rows
        split = f"file {eval_data.resolve()}"
        refit = False
    else:
        train_rows, eval_rows = split_rows(data_rows, eval_split, corpus_rows)
        split = f"stratified {percent(eval_split)} of {', '.join(path.name for path in data)} (seed {SEED})"
        unmeasured = sorted({row.subtype for row in data_rows} - {row.subtype for row in eval_rows})
        if unmeasured:
            message = (
                f"no held-out row of subtype(s) {', '.join(unmeasured)}: too few rows to hold one out, so they all "
                "train and the held-out figures do not measure these subtypes"
            )
            dataset.problems.append(Problem(", ".join(map(str, data)), None, "subtype", message, fatal=False))
    # A text being evaluated on must not also train (the team corpus or an export may hold it).
    held_out = {normalise(row.text) for row in eval_rows}
    left_out_as_held_out = 0

    def not_held_out(rows: list[LabeledRow]) -> list[LabeledRow]:
        nonlocal left_out_as_held_out
        kept = []
        left_out: dict[str, list[int]] = {}  # by file: one warning each, not one per row
        for row in rows:
            if normalise(row.text) in held_out:
                left_out.setdefault(row.file, []).append(row.row)
            else:
                kept.append(row)
        for file, numbers in left_out.items():
            left_out_as_held_out += len(numbers)
            message = (
                f"{len(numbers)} rows with the same text as a held-out evaluation row are left out of training "
                f"({shown_rows(numbers)})"
            )
            dataset.problems.append(Problem(file, None, "text", message, fatal=False))
        return kept

    train_rows, corpus_rows = not_held_out(train_rows), not_held_out(corpus_rows)
    files = ", ".join(map(str, [*data, *corpus]))
    if not train_rows:
        message = "no rows of the data files are left to train on: every one is also an evaluation row"
        dataset.problems.append(Problem(", ".join(map(str, data)), None, "text", message))
    counts = {head: Counter(getattr(row, head) for row in [*train_rows, *corpus_rows]) for head in HEADS}
    for head, per_class in counts.items():
        for code, count in sorted(per_class.items()):
            if count < MIN_CLASS_ROWS:
                rows = "one training row" if count == 1 else f"only {count} training rows"
                message = f"{rows} for {head} {code!r}; every class needs at least {MIN_CLASS_ROWS}"
                dataset.problems.append(Problem(files, None, head, message))
    for code in taxonomy.subtypes:
        if code not in counts["subtype"]:
            dataset.problems.append(Problem(files, None, "subtype", f"no training rows for subtype {code!r}"))
    if dataset.fatal:
        raise DataError(dataset)
    version = new_version_id()
    step(f"fitting on {len(train_rows) + len(corpus_rows)} rows")
    model = fit_model(train_rows, taxonomy, version, corpus_rows, fit_progress, **(params or {}))
    step(f"evaluating on {len(eval_rows)} held-out rows")
    predictions = predict_rows(model, eval_rows)
    metrics = evaluate_predictions(eval_rows, predictions)
    evaluated_rows = len(train_rows) + len(corpus_rows)
    # Measured now, by the model that has not seen them: the drift check's reference for new texts.
    out_of_vocabulary_rate = model.out_of_vocabulary_rate([row.text for row in eval_rows])
    if refit:
        # Every data row in file order (a team corpus row repeating a held-out text stays out: its
        # data row now trains), so that the model is the one `fit_model` gives on the whole file.
        held = {(row.file, row.row) for row in [*train_rows, *eval_rows]}
        train_rows = [row for row in data_rows if (row.file, row.row) in held]
        step(f"fitting again on all {len(train_rows) + len(corpus_rows)} rows")
        model = fit_model(train_rows, taxonomy, version, corpus_rows, fit_progress, **(params or {}))
    folder = registry_root / version
    extra = {
        "training_data": {
            "files": dataset.files,
            "rows_used": len(train_rows) + len(corpus_rows),
            "corpus_rows": len(corpus_rows),
            "duplicates_dropped": dataset.duplicates,
            "unreviewed_left_out": dataset.unreviewed,
            "left_out_as_held_out": left_out_as_held_out,
            # The label mix of the data rows (the drift reference): the team corpus's mix is
            # written, not observed, so it stays out.
            "label_counts": {
                head: dict(Counter(getattr(row, head) for row in train_rows).most_common())
                for head in ("category", "subtype", "tier")
            },
        },
        "evaluation": {
            "split": split,
            "rows": len(eval_rows),
            # True: the figures are of a twin trained on `trained_rows` rows, the saved model
            # was then fitted on every row, the held-out ones included.
            "refit": refit,
            "trained_rows": evaluated_rows,
            "out_of_vocabulary_rate": round(out_of_vocabulary_rate, 4),
            "files": eval_set.files if eval_set is not None else [],
        },
        "metrics": metrics,
    }
    step("saving")
    # The report is written into the folder before it appears: no version without its report,
    # even when the process is killed while writing it.
    keys = sorted({text_key(row.text) for row in [*train_rows, *corpus_rows]})

    def add_files(staging: Path, saved: dict[str, Any]) -> None:
        (staging / TRAINED_TEXTS).write_text("".join(f"{key}\n" for key in keys), encoding="ascii")
        write_report(staging, saved, eval_rows, predictions)

    # What a training killed while it saved left behind goes now, an hour on (not one saving now).
    notes = Registry(registry_root).remove_stale_staging()
    metadata = save_model(model, folder, extra, add_files=add_files)
    warnings = [str(problem) for problem in dataset.warnings]
    unjudged = unjudgeable_warning(unjudgeable)
    return TrainResult(version, folder, metadata, [unjudged, *warnings] if unjudged else warnings, notes)
