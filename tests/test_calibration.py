"""Calibration of the classifier: temperatures are fitted on the rows `fit` is told to trust."""

from __future__ import annotations

import copy
import pickle
import random

import numpy as np
import pytest
from scipy.special import softmax
from sklearn.base import clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

from model.classifier import (
    HEADS,
    IDENTITY,
    ComplaintClassifier,
    StackedHead,
    _cross_fitted_head,
    _fit_confidence_map,
    _remap_top,
    _Steps,
)
from model.features import TextFeatures
from model.predictor import TriageModel
from model.taxonomy import Taxonomy
from model.text import normalise
from training.data import LabeledRow


def classifier(taxonomy: Taxonomy) -> ComplaintClassifier:
    return ComplaintClassifier(
        subtype_categories={code: subtype.category for code, subtype in taxonomy.subtypes.items()},
        cue_groups=dict(taxonomy.tier_cues),
    )


def test_rows_left_out_of_calibration_train_but_do_not_set_the_temperatures(
    sample_rows: list[LabeledRow], taxonomy: Taxonomy
) -> None:
    # Rows unlike the real ones, with random tiers: the heads cannot learn them, so calibrated on
    # every row the tier head would learn to doubt itself; calibrated on the real rows only, the
    # fitted temperature must sharpen the probabilities again.
    rng = random.Random(0)
    tiers = sorted(taxonomy.tiers)
    real = [normalise(row.text) for row in sample_rows]
    noise = [f"编号{rng.randrange(1000)}样例{rng.randrange(1000)}" for _ in sample_rows]
    labels = [row.labels for row in sample_rows] + [(r.category, r.subtype, rng.choice(tiers)) for r in sample_rows]
    flags = [True] * len(real) + [False] * len(noise)
    everywhere = classifier(taxonomy).fit(real + noise, labels)
    real_only = classifier(taxonomy).fit(real + noise, labels, calibrate_on=flags)
    assert real_only.temperatures_["tier"] < 0.6 * everywhere.temperatures_["tier"]
    # The heads themselves are the same: only the temperatures differ.
    assert real_only.predict(real[:50]).tolist() == everywhere.predict(real[:50]).tolist()


def test_calibrate_on_needs_one_flag_per_text_and_one_true(sample_rows: list[LabeledRow], taxonomy: Taxonomy) -> None:
    texts = [normalise(row.text) for row in sample_rows]
    labels = [row.labels for row in sample_rows]
    with pytest.raises(ValueError, match="one flag per text"):
        classifier(taxonomy).fit(texts, labels, calibrate_on=[True] * (len(texts) - 1))
    with pytest.raises(ValueError, match="at least one True"):
        classifier(taxonomy).fit(texts, labels, calibrate_on=[False] * len(texts))


def test_too_few_rows_to_calibrate_on_means_every_row_calibrates(
    sample_rows: list[LabeledRow], taxonomy: Taxonomy
) -> None:
    texts = [normalise(row.text) for row in sample_rows]
    labels = [row.labels for row in sample_rows]
    few = [i < 20 for i in range(len(texts))]
    assert classifier(taxonomy).fit(texts, labels, calibrate_on=few).calibration_rows_ == len(texts)
    many = [i % 2 == 0 for i in range(len(texts))]
    assert classifier(taxonomy).fit(texts, labels, calibrate_on=many).calibration_rows_ == sum(many)


@pytest.mark.parametrize("ensemble", [True, False])
def test_stacked_head_gives_the_probabilities_of_the_calibrated_head(
    sample_rows: list[LabeledRow], ensemble: bool
) -> None:
    # The model predicts through StackedHead; it must agree with scikit-learn's own arithmetic.
    texts = [normalise(row.text) for row in sample_rows]
    subtypes = [row.subtype for row in sample_rows]
    features = TextFeatures((1, 1), (1, 2)).fit_transform(texts[::2])
    head = CalibratedClassifierCV(LinearSVC(C=0.3), method="temperature", cv=3, ensemble=ensemble)
    head.fit(features, subtypes[::2])
    unseen = TextFeatures((1, 1), (1, 2)).fit(texts[::2]).transform(texts[1::2])
    expected = head.predict_proba(unseen)
    stack = StackedHead.of(head)
    assert len(stack.betas) == (3 if ensemble else 1)
    stacked = stack.predict_proba(unseen)
    np.testing.assert_allclose(stacked, expected, rtol=1e-9, atol=1e-12)
    assert (stacked.argmax(axis=1) == expected.argmax(axis=1)).all()
    # The explanation weights of a class are its coefficients averaged over the models.
    for index in (0, len(head.classes_) - 1):
        mean = np.mean([model.estimator.coef_[index] for model in head.calibrated_classifiers_], axis=0)
        np.testing.assert_allclose(stack.class_weights(index), mean, rtol=1e-12, atol=1e-15)


def test_confidence_maps_keep_the_decoded_labels_and_the_heads_consistent(
    sample_model: TriageModel, sample_rows: list[LabeledRow]
) -> None:
    fitted = sample_model.classifier
    assert any(fitted.confidence_maps_[head] != IDENTITY for head in HEADS)
    texts = [normalise(row.text) for row in sample_rows]
    heads = fitted.predict_heads(texts)
    unmapped = copy.copy(fitted)
    unmapped.confidence_maps_ = dict.fromkeys(HEADS, IDENTITY)
    before = unmapped.predict_heads(texts)
    assert fitted.decode(heads) == unmapped.decode(before)
    assert not np.allclose(heads["subtype"].proba, before["subtype"].proba)
    for head in HEADS:
        np.testing.assert_allclose(heads[head].proba.sum(axis=1), 1.0, atol=1e-9)
    # The subtypes of a category share exactly its probability.
    np.testing.assert_allclose(heads["subtype"].proba @ fitted.member_.T, heads["category"].proba, atol=1e-9)


def test_remap_top_sets_the_largest_probability_without_letting_another_class_overtake_it() -> None:
    proba = np.array([[0.5, 0.3, 0.2], [0.1, 0.9, 0.0], [1.0, 0.0, 0.0], [0.4, 0.4, 0.2]])
    remapped = _remap_top(proba, np.array([0.2, 0.95, 0.5, 0.1]))
    np.testing.assert_allclose(remapped.sum(axis=1), 1.0)
    assert (remapped.argmax(axis=1) == proba.argmax(axis=1)).all()
    # Row 0 asked for 0.2: clipped to where the runner-up, scaled up, would tie (0.375).
    assert remapped[0, 0] == pytest.approx(0.375) and remapped[0, 0] > remapped[0, 1]
    np.testing.assert_allclose(remapped[1], [0.05, 0.95, 0.0])
    # A single possible class, and a tie, stay as they are.
    np.testing.assert_array_equal(remapped[2], proba[2])
    np.testing.assert_allclose(remapped[3], proba[3], rtol=1e-15)


def test_beta_map_learns_how_often_a_shown_probability_is_right() -> None:
    rng = np.random.default_rng(0)
    shown = rng.uniform(0.2, 1.0, 20_000)
    correct = rng.uniform(size=shown.size) < 0.25 + 0.5 * shown  # too low below 0.5, too high above
    fitted = _fit_confidence_map(shown, correct)
    # Beta calibration bends to 0 and 1 at the very ends; in between it follows the truth.
    grid = np.linspace(0.3, 0.9, 7)
    np.testing.assert_allclose(fitted(grid), 0.25 + 0.5 * grid, atol=0.03)
    assert (np.diff(fitted(np.linspace(0, 1, 101))) >= 0).all()
    # All right: the map raises every probability; unrelated to being right: a constant.
    assert (_fit_confidence_map(shown[:300], np.ones(300, bool))(grid) > 0.9).all()
    unrelated = _fit_confidence_map(shown, rng.uniform(size=shown.size) < 0.6)
    assert np.ptp(unrelated(grid)) < 0.03 and unrelated(grid) == pytest.approx(0.6, abs=0.02)
    # Rows that happen to be separable (wrong below 0.6, right above) give a steep map, not a step.
    separable = _fit_confidence_map(shown[:300], shown[:300] > 0.6)
    assert 0.3 < separable(np.array([0.6]))[0] < 0.7 and separable.a + separable.b < 20
    np.testing.assert_allclose(IDENTITY(grid), grid)


def test_remap_top_keeps_rows_summing_to_one_when_the_other_classes_are_tiny() -> None:
    proba = np.array([[1 - 3e-12, 1e-12, 1e-12, 1e-12], [1 - 2e-9, 1e-9, 0.0, 1e-9]])
    remapped = _remap_top(proba, np.array([0.7, 0.5]))
    np.testing.assert_allclose(remapped.sum(axis=1), 1.0, rtol=0, atol=1e-15)
    np.testing.assert_allclose(remapped[:, 0], [0.7, 0.5])


@pytest.mark.parametrize("ensemble", [True, False])
def test_a_head_fitted_on_its_folds_is_the_calibrated_head_of_those_folds(
    sample_rows: list[LabeledRow], ensemble: bool
) -> None:
    # Above `nested_max_rows` the heads are fitted fold by fold (so that their fold models also
    # give the out-of-fold probabilities): the head must be scikit-learn's calibrated head on the
    # same folds, and each row's out-of-fold probabilities those of the fold model without it.
    texts = [normalise(row.text) for row in sample_rows]
    subtypes = np.array([row.subtype for row in sample_rows])
    features = TextFeatures((1, 1), (1, 2)).fit_transform(texts)
    splits = list(StratifiedKFold(3, shuffle=True, random_state=0).split(features, subtypes))
    svc = LinearSVC(C=0.3, dual=True, random_state=0)
    seen: list[str] = []
    steps = _Steps(lambda step, done, total: seen.append(step), 4)
    head, classes, out_of_fold = _cross_fitted_head(svc, splits, features, subtypes, ensemble, steps, "subtype")
    folds = [f"subtype fold {fold}/3" for fold in (1, 2, 3)]
    assert seen == folds + ([] if ensemble else ["subtype final"])
    expected = CalibratedClassifierCV(svc, method="temperature", cv=splits, ensemble=ensemble).fit(features, subtypes)
    assert classes.tolist() == expected.classes_.tolist()
    np.testing.assert_allclose(head.predict_proba(features), expected.predict_proba(features), atol=1e-6)
    np.testing.assert_allclose(out_of_fold.sum(axis=1), 1.0)
    for index, (train, held) in enumerate(splits):
        fold_model = clone(svc).fit(features[train], subtypes[train])
        beta = head.betas[index] if ensemble else head.betas[0]
        np.testing.assert_allclose(out_of_fold[held], softmax(beta * fold_model.decision_function(features[held]), 1))


@pytest.mark.parametrize("nested_max_rows", [10_000, 0])
def test_the_fit_reports_each_sub_step_as_it_begins(
    sample_rows: list[LabeledRow], taxonomy: Taxonomy, nested_max_rows: int
) -> None:
    texts = [normalise(row.text) for row in sample_rows]
    calls: list[tuple[str, int, int]] = []
    fitted = classifier(taxonomy).set_params(nested_max_rows=nested_max_rows)
    fitted.fit(texts, [row.labels for row in sample_rows], progress=lambda *call: calls.append(call))
    steps, done, totals = zip(*calls)
    total = totals[0]
    assert set(totals) == {total} and list(done) == list(range(total + 1))
    assert steps[0] == "features" and steps[-2:] == ("calibration", "done")
    # Every head, and every fold of the out-of-fold predictions, is a step of its own.
    for head in HEADS:
        assert sum(step.startswith(head) for step in steps) >= 5
    if nested_max_rows:
        assert "subtype out-of-fold 5/5" in steps and total == 20
    else:
        assert "tier fold 5/5" in steps and "tier final" in steps and total == 19
    # Either way the model serves calibrated probabilities.
    heads = fitted.predict_heads(texts[:40])
    for head in HEADS:
        np.testing.assert_allclose(heads[head].proba.sum(axis=1), 1.0)
    assert (fitted.predict(texts) == np.array([row.labels for row in sample_rows])).mean(axis=0).min() > 0.8


def test_a_model_pickled_before_nested_max_rows_reports_its_parameters(sample_model: TriageModel) -> None:
    # Versions in a registry were saved before the parameter existed; the API describes them.
    state = pickle.loads(pickle.dumps(sample_model.classifier)).__dict__.copy()
    del state["nested_max_rows"]
    old = ComplaintClassifier.__new__(ComplaintClassifier)
    old.__setstate__(state)
    assert old.get_params()["nested_max_rows"] == 10_000
    texts = ["买的热水器用了两天就漏电"]
    assert old.predict(texts).tolist() == sample_model.classifier.predict(texts).tolist()
