"""Registry, comparison, promotion gate, rollback and thresholds on real models."""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import shutil
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sklearn.metrics import f1_score
from typer.testing import CliRunner

from model.artifact import FORMAT, METADATA, save_model
from model.files import with_umask
from model.predictor import TriageModel
from model.taxonomy import Subtype, Taxonomy
from training.cli import app
from training.compare import Comparison, compare_models
from training.data import LabeledRow
from training.registry import Registry, RegistryError
from training.thresholds import NEVER, THRESHOLDS_FILE, lowest_threshold
from training.train import fit_model, split_rows

runner = CliRunner()


@pytest.fixture(scope="module")
def halves(sample_rows: list[LabeledRow]) -> tuple[list[LabeledRow], list[LabeledRow]]:
    return split_rows(sample_rows, 0.3)


@pytest.fixture(scope="module")
def good_model(halves: tuple[list[LabeledRow], list[LabeledRow]], taxonomy: Taxonomy) -> TriageModel:
    return fit_model(halves[0], taxonomy, "good")


@pytest.fixture(scope="module")
def worse_model(halves: tuple[list[LabeledRow], list[LabeledRow]], taxonomy: Taxonomy) -> TriageModel:
    """Deliberately worse: the same rows with their tiers shuffled."""
    rows = list(halves[0])
    tiers = [row.tier for row in rows]
    random.Random(7).shuffle(tiers)
    return fit_model([replace(row, tier=tier) for row, tier in zip(rows, tiers)], taxonomy, "worse")


@pytest.fixture
def registry(tmp_path: Path, good_model: TriageModel, worse_model: TriageModel) -> Registry:
    root = tmp_path / "models"
    # Version ids sort in this order (two ids made in the same second would sort at random).
    for version, model in (("20261101-000000-good", good_model), ("20261102-000000-worse", worse_model)):
        model.version = version
        save_model(model, root / version)
    return Registry(root)


def versions(registry: Registry) -> list[str]:
    return [info.version for info in registry.versions()]


def eval_csv(tmp_path: Path, rows: list[LabeledRow]) -> Path:
    path = tmp_path / "holdout.csv"
    lines = ["text,category,subtype,tier"] + [
        f'"{row.text.replace(chr(34), chr(34) * 2)}",{row.category},{row.subtype},{row.tier}' for row in rows
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_compare_finds_the_worse_tier_head(
    good_model: TriageModel, worse_model: TriageModel, halves: tuple[list[LabeledRow], list[LabeledRow]]
) -> None:
    comparison = compare_models(worse_model, good_model, halves[1])
    assert comparison.verdict == "worse" and "tier" in comparison.worse_heads
    assert comparison.disagreements
    summary = comparison.to_dict()
    assert set(summary["heads"]["tier"]["per_class_f1"]) == {"P1", "P2", "P3"}


def test_the_delta_interval_is_a_paired_bootstrap_of_scikit_learns_macro_f1(
    good_model: TriageModel,
    worse_model: TriageModel,
    halves: tuple[list[LabeledRow], list[LabeledRow]],
    fewer_bootstrap_draws: int,
) -> None:
    import numpy as np

    from training import evaluate

    rows = halves[1]
    comparison = compare_models(good_model, worse_model, rows)
    ours, theirs = (model.predict_many([row.text for row in rows]) for model in (good_model, worse_model))
    truth = [row.tier for row in rows]
    labels = comparison.candidate["tier"]["labels"]
    # The same resamples for both models, as the comparison draws them, scored by scikit-learn.
    draws, deltas = np.random.default_rng(evaluate.BOOTSTRAP_SEED), []
    for start in range(0, evaluate.BOOTSTRAP_DRAWS, evaluate.BOOTSTRAP_CHUNK):
        count = min(evaluate.BOOTSTRAP_CHUNK, evaluate.BOOTSTRAP_DRAWS - start)
        for sample in draws.integers(0, len(rows), (count, len(rows))):
            t = [truth[i] for i in sample]
            figures = [
                f1_score(t, [p[i].tier.code for i in sample], labels=labels, average="macro", zero_division=0)
                for p in (ours, theirs)
            ]
            deltas.append(figures[0] - figures[1])
    expected = [round(float(np.percentile(deltas, q)), 4) for q in (2.5, 97.5)]
    assert comparison.delta_intervals["tier"] == expected
    low, high = expected
    assert low <= comparison.delta("tier") <= high
    assert comparison.to_dict()["heads"]["tier"]["delta_macro_f1_interval"] == expected
    assert low > 0  # the worse model's tier head is far behind: no resample of the rows hides it


def test_both_models_are_averaged_over_the_same_classes(
    good_model: TriageModel, halves: tuple[list[LabeledRow], list[LabeledRow]], taxonomy: Taxonomy
) -> None:
    # The candidate predicts a subtype the rows do not have and the baseline never predicts (it
    # was trained without it): each model's own class set would give the candidate an extra 0.
    rows = halves[1]
    predicted = [p.subtype.code for p in good_model.predict_many([row.text for row in rows])]
    absent = min(code for code, row in zip(predicted, rows) if code != row.subtype)
    baseline = fit_model([row for row in halves[0] if row.subtype != absent], taxonomy, "narrow")
    subset = [row for row in rows if row.subtype != absent]
    comparison = compare_models(good_model, baseline, subset)
    for head in ("category", "subtype", "tier"):
        assert comparison.candidate[head]["labels"] == comparison.baseline[head]["labels"]
    assert absent in comparison.baseline["subtype"]["labels"]
    assert comparison.candidate["subtype"]["per_class"][absent]["f1"] == 0  # predicted, never there
    assert comparison.baseline["subtype"]["per_class"][absent]["f1"] == 0  # neither
    per_class = comparison.candidate["subtype"]["per_class"]
    assert comparison.candidate["subtype"]["macro_f1"] == pytest.approx(
        sum(item["f1"] for item in per_class.values()) / len(per_class), abs=1e-4
    )


def test_the_verdicts_and_their_margin(
    good_model: TriageModel, worse_model: TriageModel, halves: tuple[list[LabeledRow], list[LabeledRow]]
) -> None:
    rows = halves[1]
    better = compare_models(good_model, worse_model, rows)
    assert better.verdict == "better" and better.worse_heads == []
    same = compare_models(good_model, good_model, rows)
    assert same.verdict == "equivalent" and [same.delta(h) for h in ("category", "subtype", "tier")] == [0, 0, 0]
    # the macro-F1 the gate compares is scikit-learn's, on the model's predictions
    predicted = [p.tier.code for p in good_model.predict_many([row.text for row in rows])]
    truth = [row.tier for row in rows]
    assert same.candidate["tier"]["macro_f1"] == pytest.approx(f1_score(truth, predicted, average="macro"), abs=1e-4)
    # a loss of exactly the margin is allowed; a hair more is not
    figures = {head: {"macro_f1": 0.5} for head in ("category", "subtype")}
    at_margin = Comparison(
        "c", "b", 0.01, {**figures, "tier": {"macro_f1": 0.49}, "n": 1}, {**figures, "tier": {"macro_f1": 0.5}, "n": 1}
    )
    beyond = Comparison(
        "c",
        "b",
        0.01,
        {**figures, "tier": {"macro_f1": 0.4899}, "n": 1},
        {**figures, "tier": {"macro_f1": 0.5}, "n": 1},
    )
    assert at_margin.verdict == "equivalent" and beyond.verdict == "worse" and beyond.worse_heads == ["tier"]


def test_promote_gate_refuses_a_worse_model_and_force_is_recorded(
    registry: Registry, tmp_path: Path, halves: tuple[list[LabeledRow], list[LabeledRow]]
) -> None:
    good, worse = versions(registry)
    root = ["--registry", str(registry.root)]
    assert runner.invoke(app, ["promote", good, *root]).exit_code == 0  # first model: no gate
    holdout = eval_csv(tmp_path, halves[1])
    refused = runner.invoke(app, ["promote", worse, "--data", str(holdout), *root])
    assert refused.exit_code == 1 and "promotion refused" in refused.output and "tier" in refused.output
    assert registry.current_version() == good
    no_data = runner.invoke(app, ["promote", worse, *root], env={"TRIAGE_COMPARISON_DATA": ""})
    assert no_data.exit_code == 1 and "--data" in no_data.output
    forced = runner.invoke(app, ["promote", worse, "--data", str(holdout), "--force", "--actor", "ana", *root])
    assert forced.exit_code == 0, forced.output
    assert registry.current_version() == worse
    last = registry.history()[-1]
    assert last["forced"] is True and last["actor"] == "ana" and "worse" in last["note"]
    # --force on a promotion the gate lets through overrides nothing: not recorded as forced
    back = runner.invoke(app, ["promote", good, "--data", str(holdout), "--force", "--actor", "ana", *root])
    assert back.exit_code == 0, back.output
    assert registry.current_version() == good and "(forced)" not in back.output and "better" in back.output
    last = registry.history()[-1]
    assert last["forced"] is False and last["version"] == good


def test_rollback_walks_back_the_promotions(registry: Registry) -> None:
    good, worse = versions(registry)
    registry.set_current(good, action="promote")
    registry.set_current(worse, action="promote")
    assert registry.previous_version() == good
    result = runner.invoke(app, ["rollback", "--registry", str(registry.root)])
    assert result.exit_code == 0 and registry.current_version() == good
    assert registry.previous_version() is None
    assert runner.invoke(app, ["rollback", "--registry", str(registry.root)]).exit_code == 1


def test_unknown_versions_are_named(registry: Registry) -> None:
    with pytest.raises(RegistryError, match="no model version 'nope'"):
        registry.set_current("nope", action="promote")
    assert registry.current_version() is None


def test_only_version_ids_of_the_registry_can_become_current(
    registry: Registry, tmp_path: Path, good_model: TriageModel
) -> None:
    good, _ = versions(registry)
    root = ["--registry", str(registry.root)]
    assert runner.invoke(app, ["promote", good, *root]).exit_code == 0
    outside = tmp_path / "outside"
    save_model(good_model, outside)  # a real model folder, but outside the registry
    for ref in (str(outside), "../outside", "."):
        result = runner.invoke(app, ["promote", ref, "--force", *root])
        assert result.exit_code == 1 and "not a version id" in result.output, result.output
    assert (registry.root / "CURRENT").read_text(encoding="utf-8").strip() == good


def test_promoting_the_version_in_service_again_is_a_retry_that_changes_nothing(registry: Registry) -> None:
    good, _ = versions(registry)
    root = ["--registry", str(registry.root)]
    assert runner.invoke(app, ["promote", good, *root]).exit_code == 0
    history = (registry.root / "history.jsonl").read_bytes()
    # by its id or as 'current', with --force or not, and without the --data the gate would need
    for again in (["promote", good], ["promote", "current"], ["promote", good, "--force", "--actor", "ana"]):
        result = runner.invoke(app, [*again, *root], env={"TRIAGE_COMPARISON_DATA": ""})
        assert result.exit_code == 0, result.output
        assert f"version {good} is already current (in service); nothing was changed" in result.output
    assert (registry.root / "history.jsonl").read_bytes() == history  # no line written
    assert registry.current_version() == good


def test_rollback_skips_an_unreadable_history_line_naming_it_and_keeps_it(registry: Registry) -> None:
    good, worse = versions(registry)
    registry.set_current(good, action="promote")
    registry.set_current(worse, action="promote")
    history = registry.root / "history.jsonl"
    damaged = history.read_bytes() + b"{not json\n"
    history.write_bytes(damaged)
    result = runner.invoke(app, ["rollback", "--registry", str(registry.root)])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())
    assert f"warning: {history}, line 3: not a JSON record" in output and "skipped (the file is left as it" in output
    assert f"version {good} is now current" in output and registry.current_version() == good
    # the damaged line is still there, for a person to read; the rollback is appended after it
    assert history.read_bytes().startswith(damaged)
    assert [entry["action"] for entry in registry.history()] == ["promote", "promote", "rollback"]


def test_the_recorded_previous_version_stands_in_for_a_promotion_whose_line_is_damaged(
    registry: Registry,
) -> None:
    good, worse = versions(registry)
    middle = "20261101-120000-middle"
    shutil.copytree(registry.root / good, registry.root / middle)
    registry.set_current(good, action="promote")
    registry.set_current(middle, action="promote")
    registry.set_current(worse, action="promote")
    history = registry.root / "history.jsonl"
    first, promoted_middle, last = history.read_text(encoding="utf-8").splitlines()
    history.write_text(f"{first}\n{promoted_middle[:25]}\n{last}\n", encoding="utf-8")  # a line cut short
    # the readable lines alone say good, worse; the last one says it replaced `middle`
    root = ["--registry", str(registry.root)]
    back = runner.invoke(app, ["rollback", *root])
    assert back.exit_code == 0, back.output
    assert f"{history}, line 2: not a JSON record" in " ".join(back.output.split())
    assert registry.current_version() == middle
    again = runner.invoke(app, ["rollback", *root])
    assert again.exit_code == 0, again.output
    assert registry.current_version() == good


def test_a_history_with_no_readable_line_for_the_version_in_service_says_so(registry: Registry) -> None:
    good, worse = versions(registry)
    registry.set_current(good, action="promote")
    registry.set_current(worse, action="promote")
    history = registry.root / "history.jsonl"
    first, _ = history.read_text(encoding="utf-8").splitlines()
    history.write_bytes(f"{first}\n".encode() + b"\xff\xfe garbage\n")  # the line of the promotion in service
    result = runner.invoke(app, ["rollback", "--registry", str(registry.root)])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    output = " ".join(result.output.split())
    assert f"{history}, line 2: not a JSON record" in output
    assert f"no readable line of {history} records the change to version {worse}" in output
    assert "the version before it is unknown" in output and "triage promote VERSION --force" in output
    assert registry.current_version() == worse
    history.write_text("{}\n[1, 2]\n", encoding="utf-8")  # nothing usable at all
    result = runner.invoke(app, ["rollback", "--registry", str(registry.root)])
    assert result.exit_code == 1 and "(2 line(s) skipped)" in " ".join(result.output.split()), result.output


def test_a_change_after_a_history_line_cut_short_is_a_line_of_its_own(registry: Registry) -> None:
    good, worse = versions(registry)
    registry.set_current(good, action="promote")
    history = registry.root / "history.jsonl"
    cut = history.read_bytes() + b'{"at": "2026-12-01T10:00:00+00:00", "act'  # a full disk, say
    history.write_bytes(cut)
    registry.set_current(worse, action="promote")
    assert history.read_bytes().startswith(cut + b"\n")
    history = registry.read_history()
    assert [entry["version"] for entry in history.entries] == [good, worse] and len(history.skipped) == 1
    assert registry.previous_version() == good


def test_rollback_names_a_missing_version(registry: Registry) -> None:
    good, worse = versions(registry)
    registry.set_current(good, action="promote")
    registry.set_current(worse, action="promote")
    root = ["--registry", str(registry.root)]
    (registry.root / good / "metadata.json").unlink()
    missing = runner.invoke(app, ["rollback", *root])
    assert missing.exit_code == 1 and f"no model version '{good}'" in missing.output
    assert registry.current_version() == worse
    # CURRENT names a version the registry has not got (and the history never named)
    (registry.root / "CURRENT").write_text("20261201-000000-gone\n", encoding="utf-8")
    gone = runner.invoke(app, ["rollback", *root])
    assert gone.exit_code == 1 and "names version '20261201-000000-gone', which is not in the registry" in gone.output
    assert "triage promote VERSION --force" in gone.output and "no version served before" not in gone.output
    predicted = runner.invoke(app, ["predict", "快递三天没到，电话也打不通", *root])  # the same repair is named
    assert predicted.exit_code == 1 and "no model version '20261201-000000-gone'" in predicted.output
    assert "CURRENT names it: `triage promote VERSION --force` names another" in " ".join(predicted.output.split())


def test_lowest_threshold_meets_the_precision() -> None:
    confidence = [0.95, 0.9, 0.8, 0.7, 0.6, 0.5]
    correct = [True, True, True, False, True, False]
    assert lowest_threshold(confidence, correct, 0.8) == 0.6  # 4 of 5 at ≥ 0.6
    assert lowest_threshold(confidence, correct, 1.0) == 0.8
    assert lowest_threshold([0.9, 0.8], [False, False], 0.5) == NEVER


def _lowest_by_brute_force(confidence: list[float], correct: list[bool], precision: float) -> float:
    """The lowest probability t at which the predictions with p ≥ t reach `precision` (NEVER if none)."""
    for t in sorted(set(confidence)):
        chosen = [ok for p, ok in zip(confidence, correct) if p >= t]
        if sum(chosen) / len(chosen) >= precision:
            return t
    return NEVER


def test_thresholds_command_writes_them_beside_the_model(
    registry: Registry,
    tmp_path: Path,
    halves: tuple[list[LabeledRow], list[LabeledRow]],
    good_model: TriageModel,
) -> None:
    good, _ = versions(registry)
    holdout = eval_csv(tmp_path, halves[1])
    result = runner.invoke(
        app,
        ["thresholds", "--precision", "0.9", "--data", str(holdout), "--model", good, "--registry", str(registry.root)],
    )
    assert result.exit_code == 0, result.output
    assert "auto-filled:" in result.output
    written = json.loads((registry.root / good / THRESHOLDS_FILE).read_text(encoding="utf-8"))
    assert written["precision"] == 0.9
    # every threshold worked out here, by trying each probability of the held-out predictions
    predictions = good_model.predict_many([row.text for row in halves[1]])
    for head in ("category", "subtype", "tier"):
        codes = [getattr(p, head).code for p in predictions]
        confidence = [getattr(p, head).probability for p in predictions]
        correct = [getattr(row, head) == code for row, code in zip(halves[1], codes)]
        assert written["heads"][head] == _lowest_by_brute_force(confidence, correct, 0.9), head
        frequent = {code for code in codes if codes.count(code) >= 20}
        assert set(written["per_class"][head]) == frequent, head
        for code in frequent:
            mine = [i for i, c in enumerate(codes) if c == code]
            expected = _lowest_by_brute_force([confidence[i] for i in mine], [correct[i] for i in mine], 0.9)
            assert written["per_class"][head][code] == expected, (head, code)
    assert not _has_never(written) and "never auto-filled" not in result.output  # every class reaches 0.9 here
    assert [path.name for path in (registry.root / good).iterdir() if path.name.startswith(".")] == []
    assert (registry.root / good / THRESHOLDS_FILE).stat().st_mode & 0o777 == with_umask(0o666)
    # Too few rows to mean anything: refused, and the thresholds already written stay.
    few = eval_csv(tmp_path, halves[1][:39])
    flags = ["--precision", "0.8", "--data", str(few), "--model", good, "--registry", str(registry.root)]
    refused = runner.invoke(app, ["thresholds", *flags])
    assert refused.exit_code == 1 and "39 rows; thresholds need at least 40" in refused.output
    assert json.loads((registry.root / good / THRESHOLDS_FILE).read_text(encoding="utf-8")) == written
    # A warning when the split-half check falls short of the precision asked for, and only then:
    # here the second half's tiers are all wrong, so thresholds fitted on the first half promise
    # more than they keep.
    rows = halves[1]
    wrong = {"P1": "P3", "P2": "P1", "P3": "P2"}
    mislabelled = rows[: len(rows) // 2] + [replace(row, tier=wrong[row.tier]) for row in rows[len(rows) // 2 :]]
    for run in (
        result,
        runner.invoke(
            app, ["thresholds", "--precision", "0.9", "--data", str(eval_csv(tmp_path, mislabelled)), *flags[4:]]
        ),
    ):
        text = " ".join(run.output.split())
        checked = re.search(r"precision category (\S+), subtype (\S+), tier (\S+)", text)
        assert checked is not None, text
        short = [head for head, value in zip(("category", "subtype", "tier"), checked.groups())
                 if value.rstrip(",") != "n/a" and float(value.rstrip(",")) < 0.9]  # fmt: skip
        assert ("reach less than 0.9 on the other half" in text) == bool(short), text
    assert "tier" in short  # the second run's
    # every tier wrong: no probability reaches 0.9 (1.01, written), and the output says what that means
    all_wrong = eval_csv(tmp_path, [replace(row, tier=wrong[row.tier]) for row in rows])
    never = runner.invoke(app, ["thresholds", "--precision", "0.9", "--data", str(all_wrong), *flags[4:]])
    assert never.exit_code == 0, never.output
    assert _has_never(json.loads((registry.root / good / THRESHOLDS_FILE).read_text(encoding="utf-8")))
    assert "no probability reaches it, so the class is never auto-filled" in " ".join(never.output.split())


def _has_never(written: dict[str, Any]) -> bool:
    """Whether thresholds.json holds a threshold no probability reaches."""
    heads, per_class = written["heads"], written["per_class"]
    return any(t > 1 for head in heads for t in (heads[head], *per_class[head].values()))


def test_a_version_in_service_that_this_release_cannot_load_is_shown_and_only_forced_past(
    registry: Registry, tmp_path: Path, halves: tuple[list[LabeledRow], list[LabeledRow]]
) -> None:
    # As after an upgrade: the model in service was saved in an older format.
    old, new = versions(registry)
    registry.set_current(old, action="promote")
    metadata_path = registry.root / old / METADATA
    metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
    metadata_path.write_text(json.dumps({**metadata, "format": FORMAT - 1}), encoding="utf-8")
    root = ["--registry", str(registry.root)]
    listed = runner.invoke(app, ["models", *root])
    assert f"not listed: {old} (in service)" in listed.output and f"model format {FORMAT - 1}" in listed.output
    holdout = str(eval_csv(tmp_path, halves[1]))
    refused = runner.invoke(app, ["promote", new, "--data", holdout, *root])
    assert refused.exit_code == 1 and "cannot be loaded" in refused.output and "--force" in refused.output
    assert registry.current_version() == old
    forced = runner.invoke(app, ["promote", new, "--force", *root])
    assert forced.exit_code == 0, forced.output
    assert registry.current_version() == new and "cannot be loaded" in registry.history()[-1]["note"]
    # Rolling back to it would leave the service nothing it can load.
    back = runner.invoke(app, ["rollback", *root])
    assert back.exit_code == 1 and "cannot roll back" in back.output and f"model format {FORMAT - 1}" in back.output
    assert registry.current_version() == new


def test_a_margin_that_is_not_a_loss_between_0_and_1_is_refused(registry: Registry, tmp_path: Path) -> None:
    good, worse = versions(registry)
    registry.set_current(good, action="promote")
    holdout = tmp_path / "unused.csv"
    for margin in ("nan", "-1", "1"):
        result = runner.invoke(
            app, ["promote", worse, "--margin", margin, "--data", str(holdout), "--registry", str(registry.root)]
        )
        assert result.exit_code == 2 and "--margin" in result.output, margin
    assert registry.current_version() == good


def test_a_registry_that_cannot_be_read_is_one_clear_error(registry: Registry, tmp_path: Path) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x", encoding="utf-8")
    result = runner.invoke(app, ["models", "--registry", str(not_a_folder)])
    assert result.exit_code == 1 and "not a folder" in result.output
    (registry.root / "CURRENT").mkdir()
    result = runner.invoke(app, ["models", "--registry", str(registry.root)])
    assert result.exit_code == 1 and "cannot read the current version" in result.output


def test_a_change_the_history_cannot_record_is_not_made(registry: Registry) -> None:
    good, worse = versions(registry)
    registry.set_current(good, action="promote")
    (registry.root / "history.jsonl").unlink()
    (registry.root / "history.jsonl").mkdir()
    with pytest.raises(RegistryError, match="cannot change the current version"):
        registry.set_current(worse, action="promote")
    assert registry.current_version() == good


def _record_training_file(registry: Registry, version: str, path: Path) -> None:
    """Write into a version's metadata that `path` was one of its training files."""
    metadata_path = registry.root / version / METADATA
    metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    metadata["training_data"] = {"files": [{"path": str(path), "sha256": digest, "rows": 1}]}
    metadata_path.write_text(json.dumps(metadata), encoding="utf-8")


def test_the_gate_refuses_too_few_rows_or_a_models_own_training_data(
    registry: Registry, tmp_path: Path, halves: tuple[list[LabeledRow], list[LabeledRow]]
) -> None:
    good, worse = versions(registry)
    registry.set_current(good, action="promote")
    root = ["--registry", str(registry.root)]
    one_row = eval_csv(tmp_path, halves[1][:1])
    refused = runner.invoke(app, ["promote", worse, "--data", str(one_row), *root])
    assert refused.exit_code == 1 and "has 1 rows; a comparison needs at least 50" in refused.output
    thirty = eval_csv(tmp_path, halves[1][:30])
    few = runner.invoke(app, ["compare", "--candidate", worse, "--data", str(thirty), "--json", *root])
    assert few.exit_code == 0, few.output
    payload = json.loads(few.stdout)
    assert payload["verdict"] == "unfit" and "has 30 rows; a comparison needs at least 50" in payload["unfit"]
    holdout = eval_csv(tmp_path, halves[1])
    _record_training_file(registry, good, holdout)
    trained = runner.invoke(app, ["promote", worse, "--data", str(holdout), *root])
    assert trained.exit_code == 1 and f"is training data of version {good}" in trained.output
    assert registry.current_version() == good
    # compare scores them still (exit 0, as for any verdict), but says first that the file cannot judge them
    compared = runner.invoke(app, ["compare", "--candidate", worse, "--data", str(holdout), *root])
    assert compared.exit_code == 0, compared.output
    first, *_, last = compared.stdout.strip().splitlines()
    assert first.startswith("not a fair comparison: ") and f"is training data of version {good}" in first
    assert last.startswith("verdict: unfit (") and "the figures alone say: candidate" in last
    as_json = runner.invoke(app, ["compare", "--candidate", worse, "--data", str(holdout), "--json", *root])
    assert as_json.exit_code == 0, as_json.output
    payload = json.loads(as_json.stdout)
    assert payload["verdict"] == "unfit" and f"is training data of version {good}" in payload["unfit"]
    assert payload["figures_verdict"] == "worse" and set(payload["heads"]) == {"category", "subtype", "tier"}
    thresholds = ["thresholds", "--precision", "0.9", "--data", str(holdout), "--model", good, *root]
    refused_thresholds = runner.invoke(app, thresholds)
    assert refused_thresholds.exit_code == 1 and "training data" in refused_thresholds.output
    assert not (registry.root / good / THRESHOLDS_FILE).exists()


def test_a_forced_promotion_on_a_file_no_agent_reviewed_is_refused_without_a_traceback(
    registry: Registry, tmp_path: Path
) -> None:
    good, worse = versions(registry)
    registry.set_current(good, action="promote")
    unreviewed = tmp_path / "october_all.csv"
    unreviewed.write_text(
        "ticket_no,text,category,subtype,tier,reviewed\n"
        "TS-1,快递三天都没送到，打电话也没人接,logistics,late_delivery,P2,false\n",
        encoding="utf-8",
    )
    command = ["promote", worse, "--data", str(unreviewed), "--force", "--registry", str(registry.root)]
    result = runner.invoke(app, command)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert f"{unreviewed}, column reviewed: no agent reviewed any of its 1 rows" in " ".join(result.output.split())
    assert registry.current_version() == good and len(registry.history()) == 1


def test_the_training_data_check_reads_versions_given_as_folders_outside_the_registry(
    registry: Registry, tmp_path: Path, halves: tuple[list[LabeledRow], list[LabeledRow]]
) -> None:
    # Versions named by their folders, with --registry another (empty) registry: their own
    # metadata and trained texts still say that the file trained one of them.
    good, worse = versions(registry)
    holdout = eval_csv(tmp_path, halves[1])
    _record_training_file(registry, good, holdout)
    elsewhere = ["--registry", str(tmp_path / "other")]
    folders = [str(registry.root / good), str(registry.root / worse)]
    compared = runner.invoke(
        app,
        ["compare", "--candidate", folders[1], "--baseline", folders[0], "--data", str(holdout), "--json", *elsewhere],
    )
    assert compared.exit_code == 0, compared.output
    payload = json.loads(compared.stdout)
    assert payload["verdict"] == "unfit" and f"is training data of version {good}" in payload["unfit"]
    thresholds = ["thresholds", "--precision", "0.9", "--data", str(holdout), "--model", folders[0], *elsewhere]
    refused = runner.invoke(app, thresholds)
    assert refused.exit_code == 1 and f"is training data of version {good}" in refused.output
    assert not (registry.root / good / THRESHOLDS_FILE).exists()


def test_broken_registry_files_are_clear_errors_not_tracebacks(
    registry: Registry, tmp_path: Path, halves: tuple[list[LabeledRow], list[LabeledRow]]
) -> None:
    good, worse = versions(registry)
    root = ["--registry", str(registry.root)]
    # nothing in service: nothing to roll back, even with a history
    registry.set_current(good, action="promote")
    registry.set_current(worse, action="promote")
    (registry.root / "CURRENT").unlink()
    result = runner.invoke(app, ["rollback", *root])
    assert result.exit_code == 1 and "no version is current" in result.output
    registry.set_current(worse, action="promote")
    # a history that is a folder: promote and rollback say so, CURRENT stays
    history = registry.root / "history.jsonl"
    history.unlink()
    history.mkdir()
    holdout = str(eval_csv(tmp_path, halves[1]))
    for command, message in (
        (["rollback"], "history.jsonl: cannot read the history"),
        (["promote", good, "--force", "--data", holdout], "cannot change the current version"),
    ):
        result = runner.invoke(app, [*command, *root])
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
        assert message in result.output, result.output
    assert registry.current_version() == worse


def test_models_lists_the_others_past_a_damaged_version_and_warns_of_a_broken_one_in_service(
    registry: Registry,
) -> None:
    good, worse = versions(registry)
    registry.set_current(worse, action="promote")
    metadata_path = registry.root / good / METADATA
    metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
    metadata_path.write_text(json.dumps({**metadata, "metrics": {"category": {"accuracy": 1}}}), encoding="utf-8")
    (registry.root / worse / "model.joblib").unlink()
    result = runner.invoke(app, ["models", "--registry", str(registry.root)])
    assert result.exit_code == 0, result.output
    assert f"not listed: {good}: " in result.output and "not in the expected form" in result.output
    assert "the version in service" in result.output and "missing payload" in result.output


def test_models_marks_versions_that_promote_and_predict_would_refuse(registry: Registry) -> None:
    good, worse = versions(registry)
    registry.set_current(good, action="promote")
    root = ["--registry", str(registry.root)]
    payload = registry.root / worse / "model.joblib"
    intact = payload.read_bytes()

    def status_of(version: str) -> str:
        result = runner.invoke(app, ["models", *root])
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        (start,) = [number for number, line in enumerate(lines) if version in line]
        cell = [lines[start].split("│")[-2].strip()]
        for line in lines[start + 1 :]:  # the lines its cell was wrapped onto
            cells = line.split("│")
            if len(cells) < 3 or cells[2].strip():
                break
            cell.append(cells[-2].strip())
        return " ".join(part for part in cell if part)

    assert status_of(good) == status_of(worse) == "ok"
    payload.write_bytes(intact[:-100])  # a copy cut short
    assert status_of(worse) == "damaged: corrupt payload" and status_of(good) == "ok"
    refused = runner.invoke(app, ["promote", worse, "--force", *root])
    assert refused.exit_code == 1 and "corrupt payload" in refused.output
    payload.unlink()
    assert status_of(worse) == "damaged: missing payload"
    payload.write_bytes(intact)
    metadata_path = registry.root / worse / METADATA
    metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
    metadata["libraries"]["scikit-learn"] = "1.0.0"
    metadata_path.write_text(json.dumps(metadata), encoding="utf-8")
    assert status_of(worse) == "cannot be loaded: made with scikit-learn 1.0.0"
    predicted = runner.invoke(app, ["predict", "快递三天没到", "--model", worse, *root])
    assert predicted.exit_code == 1 and "made with scikit-learn 1.0.0" in predicted.output
    assert registry.current_version() == good


def test_staging_folders_of_killed_trainings_are_no_versions_and_only_stale_ones_are_removed(
    registry: Registry,
) -> None:
    good, _ = versions(registry)
    registry.set_current(good, action="promote")
    # as a training killed while it saved leaves them: a whole version's files, hidden
    stale = registry.root / ".20261120-101500-3f9a2c.k2j4x9ab"
    fresh = registry.root / ".20261123-121500-0b1c2d.q8w7e6r5"
    other = registry.root / ".backup"  # someone's own hidden folder: not ours to remove
    for folder in (stale, fresh, other):
        shutil.copytree(registry.root / good, folder)
    three_hours_ago = time.time() - 3 * 3600
    for path in (stale, *stale.iterdir(), fresh, other):
        os.utime(path, (three_hours_ago, three_hours_ago))
    (fresh / "model.joblib").touch()  # a folder made hours ago whose payload is still being written
    assert versions(registry) == versions(Registry(registry.root)) and stale.name not in versions(registry)
    listed = runner.invoke(app, ["models", "--registry", str(registry.root)])
    assert listed.exit_code == 0, listed.output
    lines = [line for line in listed.stdout.splitlines() if line.startswith("not a version: ")]
    assert len(lines) == 2 and ".backup" not in listed.stdout
    assert lines[0].startswith(f"not a version: {stale}: left by a training killed while it saved, 3 h ago")
    assert f"the next `triage train` removes it, or remove it now: rm -r {stale}" in lines[0]
    assert lines[1].startswith(f"not a version: {fresh}: changed 0 min ago: a training saving a version now")
    assert "removes it once it is an hour old" in lines[1]
    assert registry.remove_stale_staging() == [f"removed {stale}, the staging folder of a training killed 3 h ago"]
    assert not stale.exists() and fresh.is_dir() and other.is_dir()
    assert (registry.root / good).is_dir() and registry.current_version() == good


def test_models_on_a_registry_of_damaged_versions_only_does_not_ask_to_train_one(registry: Registry) -> None:
    for version in versions(registry):
        (registry.root / version / METADATA).write_text("{bad", encoding="utf-8")
    result = runner.invoke(app, ["models", "--registry", str(registry.root)])
    assert result.exit_code == 0, result.output
    assert f"no readable model versions in {registry.root}" in result.output and "train one" not in result.output
    assert result.output.count("not listed: ") == 2 and "┃" not in result.output  # no empty table


def test_a_default_model_trained_while_another_process_promoted_one_does_not_replace_it(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    from training import defaults
    from training.train import TrainResult

    good, worse = versions(registry)

    def trained_while_another_worker_promoted_its_own(*arguments: Any) -> TrainResult:
        Registry(registry.root).set_current(good, action="promote", actor="default")  # the other worker
        return TrainResult(worse, registry.root / worse, {}, [])  # this worker's freshly trained version

    monkeypatch.setattr(defaults, "train", trained_while_another_worker_promoted_its_own)
    assert defaults.ensure_current_model(registry) == registry.root / good
    assert registry.current_version() == good and [entry["version"] for entry in registry.history()] == [good]


def test_an_empty_pointer_is_damage_not_an_empty_registry(registry: Registry, taxonomy: Taxonomy) -> None:
    from training.defaults import ensure_current_model

    good, worse = versions(registry)
    registry.set_current(good, action="promote")
    (registry.root / "CURRENT").write_text("", encoding="utf-8")  # as a crash while writing it may leave
    with pytest.raises(RegistryError, match="CURRENT is empty"):
        registry.current_version()
    # the service does not train the default model over the real one
    with pytest.raises(RegistryError, match="CURRENT is empty"):
        ensure_current_model(registry)
    assert versions(registry) == [good, worse]
    root = ["--registry", str(registry.root)]
    listed = runner.invoke(app, ["models", *root])
    assert listed.exit_code == 0 and good in listed.output and "CURRENT is empty" in listed.output
    refused = runner.invoke(app, ["promote", worse, *root])
    assert refused.exit_code == 1 and "CURRENT is empty" in refused.output
    repaired = runner.invoke(app, ["promote", good, "--force", "--actor", "ana", *root])
    assert repaired.exit_code == 0, repaired.output
    assert registry.current_version() == good
    last = registry.history()[-1]
    assert last["forced"] is True and last["previous"] is None and "repair of the pointer" in last["note"]


def test_a_pointer_that_is_no_version_id_is_damage_promote_force_repairs(registry: Registry) -> None:
    good, worse = versions(registry)
    registry.set_current(good, action="promote")
    root = ["--registry", str(registry.root)]
    for damage in (b"\xff\xfe2\x000\x002\x006\x00", f"{good}\n{worse}\n".encode()):  # UTF-16; two lines
        (registry.root / "CURRENT").write_bytes(damage)
        with pytest.raises(RegistryError, match="CURRENT is damaged"):
            registry.current_version()
        # the versions are still listed, to pick the one to name
        listed = runner.invoke(app, ["models", *root])
        assert listed.exit_code == 0 and good in listed.output and "CURRENT is damaged" in listed.output
        refused = runner.invoke(app, ["promote", worse, *root])
        assert refused.exit_code == 1 and "CURRENT is damaged" in refused.output
        repaired = runner.invoke(app, ["promote", good, "--force", *root])
        assert repaired.exit_code == 0, repaired.output
        assert registry.current_version() == good and "repair of the pointer" in registry.history()[-1]["note"]


def test_promotions_at_the_same_time_are_recorded_in_the_order_current_saw_them(registry: Registry) -> None:
    good, worse = versions(registry)

    def promote(version: str) -> None:
        for _ in range(100):
            Registry(registry.root).set_current(version, action="promote")

    threads = [threading.Thread(target=promote, args=(version,)) for version in (good, worse)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    history = registry.history()
    assert len(history) == 200 and history[-1]["version"] == registry.current_version()
    # each change replaced the one recorded before it, not one another promotion had meanwhile replaced
    assert [entry["previous"] for entry in history[1:]] == [entry["version"] for entry in history[:-1]]


def test_a_change_judged_against_a_version_no_longer_in_service_is_refused(registry: Registry) -> None:
    good, worse = versions(registry)
    with pytest.raises(RegistryError, match="changed meanwhile"):
        registry.set_current(good, action="promote", if_current=worse)
    registry.set_current(good, action="promote", if_current=None)  # the first version of an empty registry
    with pytest.raises(RegistryError, match=f"now {good}, none when this command began"):
        registry.set_current(worse, action="promote", if_current=None)
    assert registry.current_version() == good and len(registry.history()) == 1  # nothing changed
    registry.set_current(worse, action="rollback", if_current=good)
    assert registry.current_version() == worse


def test_a_promotion_whose_gate_compared_with_a_replaced_version_changes_nothing(
    registry: Registry,
    tmp_path: Path,
    halves: tuple[list[LabeledRow], list[LabeledRow]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    good, worse = versions(registry)
    registry.set_current(good, action="promote")

    def another_analyst_promotes_meanwhile(*arguments: Any) -> Comparison:
        Registry(registry.root).set_current(worse, action="promote", actor="other")
        return compare_models(*arguments)

    monkeypatch.setattr("training.cli.compare_models", another_analyst_promotes_meanwhile)
    flags = ["--data", str(eval_csv(tmp_path, halves[1])), "--force", "--registry", str(registry.root)]
    result = runner.invoke(app, ["promote", worse, *flags])
    assert result.exit_code == 1 and "changed meanwhile" in result.output and "run the command again" in result.output
    assert registry.current_version() == worse and [entry["actor"] for entry in registry.history()] == ["", "other"]


def test_a_history_line_whose_change_never_reached_current_is_not_rolled_back_to(registry: Registry) -> None:
    good, worse = versions(registry)
    registry.set_current(good, action="promote")
    registry.set_current(worse, action="promote")
    # killed after the history line of a promotion of `good` was written, before CURRENT changed
    with (registry.root / "history.jsonl").open("a", encoding="utf-8") as history:
        history.write(json.dumps({"action": "promote", "version": good, "previous": worse}) + "\n")
    assert registry.current_version() == worse
    assert registry.previous_version() == good  # the stack as it really was
    result = runner.invoke(app, ["rollback", "--registry", str(registry.root)])
    assert result.exit_code == 0, result.output
    assert registry.current_version() == good


def test_a_change_that_never_reached_current_is_not_rolled_back_to_once_others_followed(registry: Registry) -> None:
    good, worse = versions(registry)
    registry.set_current(good, action="promote")
    registry.set_current(worse, action="promote")
    # killed between the history line of a promotion of `good` and CURRENT; then `good` promoted for real
    with (registry.root / "history.jsonl").open("a", encoding="utf-8") as history:
        history.write(json.dumps({"action": "promote", "version": good, "previous": worse}) + "\n")
    registry.set_current(good, action="promote")
    assert registry.previous_version() == worse  # what served before `good`, as its line records


def test_compare_warns_when_the_two_versions_have_different_taxonomies(
    registry: Registry,
    tmp_path: Path,
    halves: tuple[list[LabeledRow], list[LabeledRow]],
    good_model: TriageModel,
    taxonomy: Taxonomy,
) -> None:
    good, _ = versions(registry)
    root = ["--registry", str(registry.root)]
    holdout = str(eval_csv(tmp_path, halves[1]))
    logistics = taxonomy.categories["logistics"]
    new_subtype = Subtype("parcel_stolen", "包裹被盗", "logistics", taxonomy.subtypes[logistics.subtypes[0]].department)
    added = replace(
        taxonomy,
        subtypes={**taxonomy.subtypes, new_subtype.code: new_subtype},
        categories={
            **taxonomy.categories,
            "logistics": replace(logistics, subtypes=(*logistics.subtypes, "parcel_stolen")),
        },
    )
    p1 = taxonomy.tiers["P1"]
    faster = replace(
        taxonomy, tiers={**taxonomy.tiers, "P1": replace(p1, first_response_hours=p1.first_response_hours / 2)}
    )
    for name, other in (("20261103-000000-added", added), ("20261104-000000-faster", faster)):
        save_model(TriageModel(other, good_model.classifier, name), registry.root / name)
    text = runner.invoke(
        app, ["compare", "--candidate", "20261103-000000-added", "--baseline", good, "--data", holdout, *root]
    )
    assert text.exit_code == 0, text.output
    (line,) = [line for line in text.stdout.splitlines() if line.startswith("warning: ")]
    assert line.startswith(f"warning: 20261103-000000-added and {good} were trained with different taxonomies")
    assert f"(taxonomy_sha256 {added.sha256[:12]}… and {taxonomy.sha256[:12]}…)" in line
    assert "subtypes only in 20261103-000000-added: parcel_stolen;" in line and "categories only" not in line
    as_json = runner.invoke(
        app,
        ["compare", "--candidate", "20261104-000000-faster", "--baseline", good, "--data", holdout, "--json", *root],
    )
    assert as_json.exit_code == 0, as_json.output
    payload = json.loads(as_json.stdout)
    assert payload["taxonomy_sha256"] == {"candidate": faster.sha256, "baseline": taxonomy.sha256}
    (warning,) = payload["warnings"]
    assert (
        "were trained with different taxonomies" in warning and "the same category, subtype and tier codes" in warning
    )
    assert warning in " ".join(as_json.stderr.split())
    # the gate says it too, and judges the figures as ever
    registry.set_current(good, action="promote")
    promoted = runner.invoke(app, ["promote", "20261104-000000-faster", "--data", holdout, *root])
    assert promoted.exit_code == 0 and "were trained with different taxonomies" in promoted.output, promoted.output


def test_compare_on_a_fit_file_has_a_plain_verdict_and_lists_no_rows_when_none_disagree(
    registry: Registry, tmp_path: Path, halves: tuple[list[LabeledRow], list[LabeledRow]]
) -> None:
    good, worse = versions(registry)
    root = ["--registry", str(registry.root)]
    holdout = str(eval_csv(tmp_path, halves[1]))
    payload = json.loads(
        runner.invoke(
            app, ["compare", "--candidate", worse, "--baseline", good, "--data", holdout, "--json", *root]
        ).stdout
    )
    assert payload["verdict"] == "worse" and "unfit" not in payload and "figures_verdict" not in payload
    assert payload["warnings"] == []  # one taxonomy
    same = runner.invoke(app, ["compare", "--candidate", good, "--baseline", good, "--data", holdout, *root])
    assert same.exit_code == 0, same.output
    assert f"0 of {len(halves[1])} rows labeled differently\n" in same.stdout and "the first" not in same.stdout
    assert "not a fair comparison" not in same.stdout and "verdict: candidate" in same.stdout
    shown = runner.invoke(
        app, ["compare", "--candidate", worse, "--baseline", good, "--data", holdout, "--show", "2", *root]
    )
    assert "rows labeled differently; the first 2:" in shown.stdout


def test_an_unreadable_line_after_the_last_change_to_the_version_in_service_leaves_the_one_before_unknown(
    registry: Registry,
) -> None:
    # good, worse, good again: the last line, the change back to good, is cut short. good's first
    # promotion is readable, but what served before good now is worse, not the version before that.
    # (A damaged line right after the last one naming the version in service cannot be the change
    # to it: `test_rollback_skips_an_unreadable_history_line_naming_it_and_keeps_it`.)
    good, worse = versions(registry)
    registry.set_current(good, action="promote")
    registry.set_current(worse, action="promote")
    registry.set_current(good, action="promote")
    history = registry.root / "history.jsonl"
    lines = history.read_text(encoding="utf-8").splitlines()
    history.write_text("\n".join([*lines[:-1], lines[-1][:30]]) + "\n", encoding="utf-8")
    assert registry.previous_version() is None
    result = runner.invoke(app, ["rollback", "--registry", str(registry.root)])
    said = " ".join(result.output.split())
    assert result.exit_code == 1 and "line 3 of" in said and "the version before it is unknown" in said, said
    assert registry.current_version() == good
