"""Calibration figures of the evaluation: reliability bins and the expected calibration error."""

from __future__ import annotations

import pytest

from training.evaluate import expected_calibration_error, reliability_bins


def test_reliability_bins_hold_count_mean_confidence_and_accuracy_of_each_non_empty_bin() -> None:
    confidence, correct = [0.05, 0.1, 0.95, 0.97, 1.0], [False, True, True, True, False]
    low, second, top = reliability_bins(confidence, correct)
    assert (low.count, low.confidence, low.accuracy) == (1, 0.05, 0.0)
    assert (second.low, second.high) == pytest.approx((1 / 15, 2 / 15)) and second.accuracy == 1.0
    # 1.0 belongs to the last bin, not to a sixteenth one.
    assert (top.count, top.high) == (3, 1.0)
    assert (top.confidence, top.accuracy) == pytest.approx((2.92 / 3, 2 / 3))


def test_expected_calibration_error_weighs_each_bin_gap_by_its_share_of_predictions() -> None:
    confidence, correct = [0.05, 0.1, 0.95, 0.97, 1.0], [False, True, True, True, False]
    gaps = 1 / 5 * 0.05 + 1 / 5 * 0.9 + 3 / 5 * abs(2.92 / 3 - 2 / 3)
    assert expected_calibration_error(confidence, correct) == pytest.approx(gaps)
    assert expected_calibration_error([0.8] * 10, [True] * 8 + [False] * 2) == pytest.approx(0.0)
    assert expected_calibration_error([], []) == 0.0


def test_macro_f1_counts_a_class_predicted_but_absent_from_the_file() -> None:
    from sklearn.metrics import f1_score

    from training.evaluate import head_metrics

    # A file of product complaints only, some predicted as logistics: scikit-learn's macro-F1
    # averages over both classes; over the file's classes alone it was higher than accuracy.
    truth = ["product"] * 8
    predicted = ["product"] * 6 + ["logistics"] * 2
    metrics = head_metrics(truth, predicted, [0.9] * 8)
    assert metrics["macro_f1"] == round(f1_score(truth, predicted, average="macro", zero_division=0), 4)
    assert metrics["macro_f1"] < metrics["accuracy"] == 0.75


def test_a_file_of_one_class_all_predicted_right_gives_a_one_by_one_matrix_without_a_warning() -> None:
    import warnings

    from training.evaluate import head_metrics

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scikit-learn warned here, which tests turn into failures
        metrics = head_metrics(["P2"], ["P2"], [0.8])
    assert metrics["confusion"] == [[1]] and metrics["macro_f1"] == 1.0


def test_the_bootstrap_intervals_are_the_percentiles_of_scikit_learns_figures_on_the_resamples(
    fewer_bootstrap_draws: int,
) -> None:
    import numpy as np
    from sklearn.metrics import accuracy_score, f1_score

    from training import evaluate

    # Predictions of a 17-class head on 300 rows, a third wrong, one class never in the truth.
    rng = np.random.default_rng(7)
    classes = [f"s{i:02d}" for i in range(17)]
    truth = [str(code) for code in rng.choice(classes[:16], 300)]
    predicted = [t if rng.random() < 0.67 else str(rng.choice(classes)) for t in truth]
    labels = sorted(set(truth) | set(predicted))
    intervals = evaluate.bootstrap_intervals(truth, predicted, labels)
    # The same resamples, drawn as the function draws them, scored by scikit-learn one by one.
    draws = np.random.default_rng(evaluate.BOOTSTRAP_SEED)
    f1s, accuracies = [], []
    for start in range(0, evaluate.BOOTSTRAP_DRAWS, evaluate.BOOTSTRAP_CHUNK):
        count = min(evaluate.BOOTSTRAP_CHUNK, evaluate.BOOTSTRAP_DRAWS - start)
        for sample in draws.integers(0, len(truth), (count, len(truth))):
            t, p = [truth[i] for i in sample], [predicted[i] for i in sample]
            # over the resample's classes, as `head_metrics` would average it (s16 may be undrawn)
            f1s.append(f1_score(t, p, labels=sorted(set(t) | set(p)), average="macro", zero_division=0))
            accuracies.append(accuracy_score(t, p))
    assert intervals["macro_f1_interval"] == [round(float(np.percentile(f1s, q)), 4) for q in (2.5, 97.5)]
    assert intervals["accuracy_interval"] == [round(float(np.percentile(accuracies, q)), 4) for q in (2.5, 97.5)]
    metrics = evaluate.head_metrics(truth, predicted, [0.7] * len(truth))
    low, high = metrics["macro_f1_interval"]
    assert low < metrics["macro_f1"] < high and high - low > 0.05  # 300 rows: several points either way
    # Four times the rows: about half as wide; all right: no width at all.
    wider = evaluate.head_metrics(truth * 4, predicted * 4, [0.7] * len(truth) * 4)["macro_f1_interval"]
    assert 0.35 < (wider[1] - wider[0]) / (high - low) < 0.65
    assert evaluate.head_metrics(truth, truth, [1.0] * len(truth))["macro_f1_interval"] == [1.0, 1.0]


def test_a_resample_without_a_rare_class_is_averaged_as_head_metrics_would_average_it(
    fewer_bootstrap_draws: int,
) -> None:
    import numpy as np

    from training import evaluate

    # A demand-like head: 60 rows, "repair" twice (once right). About one resample in seven has
    # no "repair" row and predicts none: `head_metrics` on that resample averages over the other
    # classes; scoring the missing class 0 pulled the whole interval down.
    truth = ["none"] * 50 + ["refund"] * 8 + ["repair"] * 2
    predicted = ["none"] * 48 + ["refund"] * 2 + ["refund"] * 6 + ["none"] * 2 + ["repair", "none"]
    draws, f1s = np.random.default_rng(evaluate.BOOTSTRAP_SEED), []
    for start in range(0, evaluate.BOOTSTRAP_DRAWS, evaluate.BOOTSTRAP_CHUNK):
        count = min(evaluate.BOOTSTRAP_CHUNK, evaluate.BOOTSTRAP_DRAWS - start)
        for sample in draws.integers(0, len(truth), (count, len(truth))):
            t, p = [truth[i] for i in sample], [predicted[i] for i in sample]
            f1s.append(evaluate.head_metrics(t, p, [1.0] * len(t))["macro_f1"])
    expected = [round(float(np.percentile(f1s, q)), 4) for q in (2.5, 97.5)]
    assert evaluate.head_metrics(truth, predicted, [1.0] * len(truth))["macro_f1_interval"] == pytest.approx(
        expected, abs=2e-4
    )  # head_metrics rounds each resample's figure, the bootstrap does not


def test_a_paired_delta_averages_both_models_over_the_classes_either_predicts_on_the_resample(
    fewer_bootstrap_draws: int,
) -> None:
    import numpy as np
    from sklearn.metrics import f1_score

    from training import evaluate

    # The baseline alone predicts "repair" (twice, wrongly): in a resample, both macro averages
    # count it when the baseline's prediction is drawn, as `compare_models` would on those rows,
    # and neither does otherwise.
    truth = ["none"] * 50 + ["refund"] * 10
    ours = ["none"] * 49 + ["refund"] + ["refund"] * 8 + ["none"] * 2
    theirs = ["none"] * 48 + ["repair"] * 2 + ["refund"] * 6 + ["none"] * 4
    labels = sorted(set(truth) | set(ours) | set(theirs))
    draws, deltas = np.random.default_rng(evaluate.BOOTSTRAP_SEED), []
    for start in range(0, evaluate.BOOTSTRAP_DRAWS, evaluate.BOOTSTRAP_CHUNK):
        count = min(evaluate.BOOTSTRAP_CHUNK, evaluate.BOOTSTRAP_DRAWS - start)
        for sample in draws.integers(0, len(truth), (count, len(truth))):
            t, a, b = ([values[i] for i in sample] for values in (truth, ours, theirs))
            present = sorted(set(t) | set(a) | set(b))
            figures = [f1_score(t, p, labels=present, average="macro", zero_division=0) for p in (a, b)]
            deltas.append(figures[0] - figures[1])
    expected = [round(float(np.percentile(deltas, q)), 4) for q in (2.5, 97.5)]
    assert evaluate.interval(evaluate.bootstrap_delta(truth, ours, theirs, labels)) == expected


def test_figures_resting_on_few_rows_or_few_rows_of_a_class_are_said_to_say_little() -> None:
    from training.evaluate import FEW_CLASS_ROWS, FEW_HELD_OUT_ROWS, few_rows_warning, head_metrics

    def metrics(tiers: list[str]) -> dict[str, object]:
        categories = ["product" if i % 2 else "service" for i in range(len(tiers))]
        subtypes = ["malfunction" if i % 2 else "attitude" for i in range(len(tiers))]
        heads = {"category": categories, "subtype": subtypes, "tier": tiers}
        return {"n": len(tiers), **{head: head_metrics(v, v, [0.9] * len(v)) for head, v in heads.items()}}

    assert (FEW_HELD_OUT_ROWS, FEW_CLASS_ROWS) == (30, 5)  # as docs/cli.md states them
    assert few_rows_warning(metrics(["P2"] * 35 + ["P1"] * 5)) is None
    # 40 rows, enough in all, but a tier of 4 rows: its F1, which the macro-F1 averages, moves with each row
    warning = few_rows_warning(metrics(["P2"] * 36 + ["P1"] * 4))
    assert warning is not None and warning.startswith(
        "the held-out figures rest on 40 rows, and on fewer than 5 rows each for 1 of 2 tiers: one row more or less "
        "moves them, so they say little (macro-F1 with its 95 % interval: category 1.000 (1.000–1.000), "
    )
    small = few_rows_warning(metrics(["P2"] * 20 + ["P1"] * 5))
    assert small is not None and small.startswith("the held-out figures rest on 25 rows (fewer than 30): one row")
