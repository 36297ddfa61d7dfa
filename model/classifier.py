"""The estimator: TF-IDF features, calibrated linear heads, hierarchical decoding, explanations.

`ComplaintClassifier` follows scikit-learn's conventions: `__init__` only stores parameters,
`fit(X, y)` learns (X: normalised texts, y: rows of (category, subtype, tier) codes) and
returns self, fitted state lives in attributes ending in `_`.

The design and its defaults were chosen by 5-fold cross-validation on the training split
(bench/cv_search.py):

- features: jieba word unigrams and character 1–2-grams (sublinear TF-IDF, min_df 2), plus one
  0/1 flag per group of tier cue words (regulator threats, safety, money at risk, unusable);
- heads: class-balanced LinearSVC, calibrated by temperature scaling (which keeps the arg-max,
  so macro-F1 is untouched); the subtype head averages its five cross-validation models;
- category = ½ direct category head + ½ subtype probabilities summed per category;
- every head's probabilities get one more temperature, fitted on out-of-fold predictions of the
  rows that stand for real complaints: a team-written corpus among the training rows would
  otherwise make the heads over-confident on real texts, and the category blend of two
  calibrated distributions is under-confident (its temperature comes out at 0.8–0.9). The subtype
  temperature scales P(subtype | category) so that the probability shown for the chosen
  subtype matches how often it is right;
- then the probability shown for each head's decoded class is mapped by beta calibration
  (three parameters, never decreasing), fitted on the same out-of-fold predictions, the other
  classes scaled to fill the rest: one temperature cannot fix a subtype confidence that is too
  low below 0.4 and too high above 0.8 (CV subtype ECE 0.043 → 0.026); the map never changes
  which class is decoded;
- subtype = the best subtype of the chosen category; its probability is P(category) ×
  P(subtype | category), so every subtype's probability fits its category's;
- tier: the same features plus out-of-fold subtype probabilities (stacking) and a one-hot bin of
  the text length (mild P3 complaints are short, P1 ones long).

The out-of-fold predictions come from heads fitted apart, in a nested cross-validation, up to
`nested_max_rows` training rows (10,000: 102 linear models with five folds); above it, from the
fold models of the heads' own calibration (17 models), so that a monthly file of 100,000 rows
trains in minutes rather than hours (bench/train_scale.py). Every LinearSVC uses the dual solver.

The fitted heads are kept as `StackedHead`s (each head's calibrated models in one matrix), which
give scikit-learn's probabilities without its per-call input checks.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from scipy.optimize import minimize, minimize_scalar
from scipy.special import expit, logsumexp, softmax
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

from model.features import TextFeatures

HEADS = ("category", "subtype", "tier")
# Lower edges (in characters of normalised text) of the length bins the tier head reads.
LENGTH_EDGES = (0, 12, 20, 32, 50, 80, 130, 200)
# Fewer rows to calibrate on than this and the temperatures are fitted on every row instead: a
# temperature fitted on a handful of rows swings to its bounds.
MIN_CALIBRATION_ROWS = 200
# Up to this many training rows, the out-of-fold predictions come from a nested cross-validation
# (`ComplaintClassifier.nested_max_rows`).
NESTED_MAX_ROWS = 10_000
# Temperatures are searched within [e^-2, e^2].
_LOG_T_BOUNDS = (-2.0, 2.0)

FitProgress = Callable[[str, int, int], None]
"""`progress(step, done, total)` of `ComplaintClassifier.fit`: called as each sub-step of the fit
begins, with its name, how many of the `total` sub-steps are done, and once more at the end as
("done", total, total)."""


@dataclass(frozen=True)
class HeadProbabilities:
    """Calibrated probabilities of one head: `classes[j]` has probability `proba[:, j]`."""

    classes: tuple[str, ...]
    proba: NDArray[np.float64]


@dataclass(frozen=True)
class StackedHead:
    """A fitted calibrated head in one matrix: the probabilities of `CalibratedClassifierCV`
    (temperature method), the mean over its models of softmax(beta × decision values), from one
    sparse product.

    scikit-learn checks its input on every call of every model (about 1 ms each, most of the time
    of classifying one text); this does the same arithmetic without those checks.
    """

    weights: NDArray[np.float64]  # (features, models × classes): each model's coef_.T side by side
    intercepts: NDArray[np.float64]  # (models × classes,)
    betas: NDArray[np.float64]  # (models,): each model's fitted inverse temperature

    @classmethod
    def of(cls, head: CalibratedClassifierCV) -> StackedHead:
        """The stack of a fitted `CalibratedClassifierCV` of linear models, method "temperature"."""
        models = head.calibrated_classifiers_
        return cls.of_models(
            [model.estimator for model in models], [float(model.calibrators[0].beta_) for model in models]
        )

    @classmethod
    def of_models(cls, models: Sequence[LinearSVC], betas: Sequence[float]) -> StackedHead:
        """The stack of fitted linear models (same classes) with their inverse temperatures."""
        return cls(
            np.ascontiguousarray(np.hstack([model.coef_.T for model in models])),
            np.concatenate([model.intercept_ for model in models]),
            np.asarray(betas, dtype=np.float64),
        )

    def class_weights(self, index: int, features: NDArray[np.int32] | None = None) -> NDArray[np.float64]:
        """The linear weights of class `index`, averaged over the models: one per feature, or one
        per feature of `features` (indices) only, which is all an explanation of one text needs."""
        n_classes = len(self.intercepts) // len(self.betas)
        rows = self.weights if features is None else self.weights[features]
        weights: NDArray[np.float64] = rows[:, index::n_classes].mean(axis=1)
        return weights

    def predict_proba(self, X: sp.csr_matrix) -> NDArray[np.float64]:
        """Class probabilities (columns in the head's class order), as the head's `predict_proba`."""
        decision = np.asarray(X @ self.weights) + self.intercepts
        logits = decision.reshape(X.shape[0], len(self.betas), -1) * self.betas[None, :, None]
        proba: NDArray[np.float64] = softmax(logits, axis=2).mean(axis=1)
        return proba


Splits = Sequence[tuple[NDArray[np.intp], NDArray[np.intp]]]
"""(training rows, held-out rows) of each cross-validation fold."""
LabelColumns = tuple[NDArray[np.str_], NDArray[np.str_], NDArray[np.str_]]
"""The category, subtype and tier label of every training row."""
FittedHeads = tuple[dict[str, StackedHead], dict[str, NDArray[np.str_]], dict[str, NDArray[np.float64]]]
"""Per head: the fitted stack, its classes and its out-of-fold probabilities."""


@dataclass(frozen=True)
class ConfidenceMap:
    """Beta calibration of a shown probability p (Kull, Silva Filho and Flach, 2017):
    1 / (1 + exp(−(a·ln p − b·ln(1 − p) + c))). With a, b ≥ 0 it never decreases; (1, 1, 0) is
    the identity."""

    a: float = 1.0
    b: float = 1.0
    c: float = 0.0

    def __call__(self, probability: NDArray[np.float64]) -> NDArray[np.float64]:
        log_p, log_not_p = _beta_features(probability).T
        mapped: NDArray[np.float64] = expit(self.a * log_p + self.b * log_not_p + self.c)
        return mapped


IDENTITY = ConfidenceMap()


@dataclass(frozen=True)
class ModelInputs:
    """Features of a batch of texts: shared block, subtype probabilities, tier block.

    The tier block is the shared block, then the subtype probabilities, then the length bins.
    """

    base: sp.csr_matrix
    subtype_proba: NDArray[np.float64]
    tier_features: sp.csr_matrix


@dataclass(frozen=True)
class Contribution:
    """A feature's contribution to one class score: feature value × weight of the class.

    `kind` is "word" (jieba tokens joined by spaces), "char" (character n-gram), "cue" (a group
    of tier cue words; `term` is the group name), "subtype" (the tier head's input of the
    subtype probabilities; `term` is the subtype code) or "length" (the tier head's text-length
    bin; `term` is its range of characters, such as "20-31").
    """

    term: str
    kind: str
    weight: float


class ComplaintClassifier(ClassifierMixin, BaseEstimator):
    """Three calibrated linear heads over word and character TF-IDF, with consistent decoding.

    Parameters
    ----------
    subtype_categories:
        subtype code → category code; decoding never returns a subtype of another category.
    word_ngram_range, char_ngram_range, min_df:
        the TF-IDF blocks (`char_ngram_range=None` turns the character block off).
    cue_groups, cue_weight:
        group name → cue words; each group adds a 0/1 feature of this weight.
    C, subtype_C:
        inverse regularisation of the category/tier heads and of the subtype head.
    class_weight:
        passed to LinearSVC ("balanced" weighs rare classes up, which is what macro-F1 needs).
    calibration_folds, subtype_ensemble:
        CalibratedClassifierCV folds (temperature scaling); the subtype head averages its fold models.
    category_blend:
        weight of the direct category head; the rest comes from summing subtype probabilities.
    recalibrate:
        fit one more temperature and a map of the shown probability per head on out-of-fold
        predictions of the rows `fit` is told to calibrate on (for category, on the blend,
        which is under-confident otherwise).
    tier_subtype_weight, tier_length_weight:
        weights of the (out-of-fold) subtype probabilities and of the text-length bins among the
        tier head's features (0 leaves the length bins out).
    nested_max_rows:
        up to this many training rows, the out-of-fold predictions (the tier head's subtype
        features, the final calibration) come from separately fitted heads, each calibrated by
        its own inner cross-validation: (3k + 2)(k + 1) linear models with k folds (102 with
        5). Above it, they come from the fold models of the heads' own calibration, the same k
        splits of the rows: 3k + 2 models (17), k + 1 times fewer, at the price of each
        temperature being fitted on the out-of-fold predictions that it then scales (one number
        fitted on thousands of rows) and of the subtype's out-of-fold probabilities coming from
        one fold model, not an average of k.
    """

    def __init__(
        self,
        subtype_categories: Mapping[str, str] | None = None,
        word_ngram_range: tuple[int, int] = (1, 1),
        char_ngram_range: tuple[int, int] | None = (1, 2),
        min_df: int = 2,
        cue_groups: Mapping[str, Sequence[str]] | None = None,
        cue_weight: float = 0.5,
        C: float = 0.5,
        subtype_C: float = 0.3,
        class_weight: str | None = "balanced",
        calibration_folds: int = 5,
        subtype_ensemble: bool = True,
        category_blend: float = 0.5,
        recalibrate: bool = True,
        tier_subtype_weight: float = 1.0,
        tier_length_weight: float = 0.5,
        nested_max_rows: int = NESTED_MAX_ROWS,
    ) -> None:
        self.subtype_categories = subtype_categories
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.min_df = min_df
        self.cue_groups = cue_groups
        self.cue_weight = cue_weight
        self.C = C
        self.subtype_C = subtype_C
        self.class_weight = class_weight
        self.calibration_folds = calibration_folds
        self.subtype_ensemble = subtype_ensemble
        self.category_blend = category_blend
        self.recalibrate = recalibrate
        self.tier_subtype_weight = tier_subtype_weight
        self.tier_length_weight = tier_length_weight
        self.nested_max_rows = nested_max_rows

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without what `_explanation_keys` derives from the fitted attributes."""
        state: dict[str, Any] = dict(super().__getstate__())  # a copy: it may be the live __dict__
        state.pop("_explanation_keys_cache", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickle; a model saved before `nested_max_rows` existed was fitted the nested way."""
        state.setdefault("nested_max_rows", NESTED_MAX_ROWS)
        super().__setstate__(state)

    # ------------------------------------------------------------------ fitting
    def _folds(self, labels: NDArray[np.str_]) -> int:
        """Cross-validation folds for `labels`: `calibration_folds`, fewer if a class is rarer."""
        _, counts = np.unique(labels, return_counts=True)
        return max(2, min(self.calibration_folds, int(counts.min())))

    def _svc(self, C: float) -> LinearSVC:
        # The dual solver, always: "auto" switches to the primal one once the rows outnumber the
        # features, which is 10–30 times slower on these features. liblinear shuffles: fix it.
        return LinearSVC(C=C, class_weight=self.class_weight, dual=True, random_state=0)

    def _head(self, C: float, labels: NDArray[np.str_], ensemble: bool) -> CalibratedClassifierCV:
        return CalibratedClassifierCV(
            self._svc(C),
            method="temperature",
            cv=self._folds(labels),
            ensemble=ensemble,
        )

    def fit(
        self,
        X: Sequence[str],
        y: Sequence[Sequence[str]],
        calibrate_on: Sequence[bool] | None = None,
        progress: FitProgress | None = None,
    ) -> ComplaintClassifier:
        """Learn from normalised texts `X` and label rows `y` = (category, subtype, tier).

        `calibrate_on` marks the rows that stand for the texts the model will serve (default: all).
        The final temperatures are fitted on those rows' out-of-fold predictions only, so rows of
        another kind (the team's own corpus, cleaner and easier than real complaints) train the
        heads without making the probabilities over-confident. With fewer than
        `MIN_CALIBRATION_ROWS` flagged rows, every row calibrates (`calibration_rows_` says how
        many did).

        `progress` (see `FitProgress`) is told as each sub-step begins: the features, each head,
        each fold of the out-of-fold predictions, the final calibration.
        """
        labels = np.asarray(y, dtype=object)
        if labels.ndim != 2 or labels.shape[1] != 3 or labels.shape[0] != len(X):
            raise ValueError("y must have one (category, subtype, tier) row per text")
        self.__dict__.pop("_explanation_keys_cache", None)  # a refit has new columns
        calibration_rows = np.ones(len(X), dtype=bool) if calibrate_on is None else np.asarray(calibrate_on, bool)
        if calibration_rows.shape != (len(X),) or not calibration_rows.any():
            raise ValueError("calibrate_on must have one flag per text, and at least one True")
        mapping = dict(self.subtype_categories or {})
        for category, subtype in zip(labels[:, 0], labels[:, 1]):
            expected = mapping.setdefault(subtype, category)
            if expected != category:
                raise ValueError(f"subtype {subtype!r} is under {expected!r}, not {category!r}")
        self.subtype_categories_ = mapping
        self.cue_patterns_ = [
            (name, re.compile("|".join(_cue_pattern(word) for word in words)))
            for name, words in (self.cue_groups or {}).items()
            if words
        ]
        category, subtype, tier = (labels[:, i].astype(str) for i in range(3))
        n_folds = self._folds(subtype)
        nested = len(X) <= self.nested_max_rows
        if nested:
            steps = _Steps(progress, 4 + n_folds + (2 * n_folds + 1 if self.recalibrate else 0))
        else:
            steps = _Steps(progress, 3 * n_folds + 3 + self.recalibrate)
        steps.begin("features")
        self.features_ = TextFeatures(self.word_ngram_range, self.char_ngram_range, self.min_df)
        base = sp.hstack([self.features_.fit_transform(X), self._cues(X)], format="csr")
        # The tier head learns from subtype probabilities it would see on unseen texts, and the
        # temperatures are fitted on predictions for unseen texts: both need out-of-fold heads.
        splits = list(StratifiedKFold(n_folds, shuffle=True, random_state=0).split(base, subtype))
        lengths = self._lengths(X)
        if nested:
            fitted = self._fit_nested(splits, base, lengths, (category, subtype, tier), steps)
        else:
            fitted = self._fit_cross(splits, base, lengths, (category, subtype, tier), steps)
        self.heads_, classes, out_of_fold = fitted

        self.temperatures_ = dict.fromkeys(HEADS, 1.0)
        self.confidence_maps_ = dict.fromkeys(HEADS, IDENTITY)
        self.calibration_rows_ = 0
        if self.recalibrate:
            steps.begin("calibration")
            if calibration_rows.sum() < MIN_CALIBRATION_ROWS:
                calibration_rows = np.ones(len(X), dtype=bool)
            self.calibration_rows_ = int(calibration_rows.sum())
            truth = {
                head: np.searchsorted(classes[head], values[calibration_rows])
                for head, values in zip(HEADS, (category, subtype, tier))
            }
            rows = {head: out_of_fold[head][calibration_rows] for head in HEADS}
            self._fit_calibration(self._blend(rows["category"], rows["subtype"]), rows["subtype"], rows["tier"], truth)
        self.classes_ = {head: tuple(str(c) for c in classes[head]) for head in HEADS}
        steps.end()
        return self

    def _fit_nested(
        self,
        splits: Splits,
        base: sp.csr_matrix,
        lengths: sp.csr_matrix,
        labels: LabelColumns,
        steps: _Steps,
    ) -> FittedHeads:
        """The heads, their classes and out-of-fold probabilities (category and tier ones only
        with `recalibrate`), from heads calibrated by their own cross-validation, the out-of-fold
        ones fitted in a nested loop (`nested_max_rows`)."""
        category, subtype, tier = labels
        steps.begin("category head")
        heads = {"category": self._head(self.C, category, ensemble=False).fit(base, category)}
        steps.begin("subtype head")
        heads["subtype"] = self._head(self.subtype_C, subtype, self.subtype_ensemble).fit(base, subtype)
        categories, subtypes = heads["category"].classes_, heads["subtype"].classes_
        self.member_ = np.array([[self.subtype_categories_[s] == c for s in subtypes] for c in categories], float)
        out_of_fold = {
            "subtype": self._out_of_fold(splits, base, subtype, self.subtype_C, self.subtype_ensemble, steps, "subtype")
        }
        tier_features = self._tier_features(base, out_of_fold["subtype"], lengths)
        steps.begin("tier head")
        heads["tier"] = self._head(self.C, tier, ensemble=False).fit(tier_features, tier)
        if self.recalibrate:
            out_of_fold["category"] = self._out_of_fold(splits, base, category, self.C, False, steps, "category")
            # The subtype columns of tier_features come from models that saw the held fold's
            # subtype labels (not its tiers): a small leak, accepted to save a nested loop.
            out_of_fold["tier"] = self._out_of_fold(splits, tier_features, tier, self.C, False, steps, "tier")
        classes = {head: heads[head].classes_ for head in HEADS}
        return {head: StackedHead.of(heads[head]) for head in HEADS}, classes, out_of_fold

    def _fit_cross(
        self,
        splits: Splits,
        base: sp.csr_matrix,
        lengths: sp.csr_matrix,
        labels: LabelColumns,
        steps: _Steps,
    ) -> FittedHeads:
        """The heads, their classes and out-of-fold probabilities, each head calibrated on the
        `splits` and its out-of-fold probabilities those of its own fold models (above
        `nested_max_rows`)."""
        category, subtype, tier = labels
        heads: dict[str, StackedHead] = {}
        classes: dict[str, NDArray[np.str_]] = {}
        out_of_fold: dict[str, NDArray[np.float64]] = {}
        heads["category"], classes["category"], out_of_fold["category"] = _cross_fitted_head(
            self._svc(self.C), splits, base, category, False, steps, "category"
        )
        heads["subtype"], classes["subtype"], out_of_fold["subtype"] = _cross_fitted_head(
            self._svc(self.subtype_C), splits, base, subtype, self.subtype_ensemble, steps, "subtype"
        )
        self.member_ = np.array(
            [[self.subtype_categories_[s] == c for s in classes["subtype"]] for c in classes["category"]], float
        )
        tier_features = self._tier_features(base, out_of_fold["subtype"], lengths)
        heads["tier"], classes["tier"], out_of_fold["tier"] = _cross_fitted_head(
            self._svc(self.C), splits, tier_features, tier, False, steps, "tier"
        )
        return heads, classes, out_of_fold

    def _fit_calibration(
        self,
        blended: NDArray[np.float64],
        subtype_proba: NDArray[np.float64],
        tier_proba: NDArray[np.float64],
        truth: Mapping[str, NDArray[np.intp]],
    ) -> None:
        """Fit `temperatures_` and `confidence_maps_` on out-of-fold head probabilities (the
        category blend, the subtype and tier heads) and the true class indices, head by head in
        the order `_calibrate` applies them."""

        def shown(head: str) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
            calibrated = self._calibrate(blended, subtype_proba, tier_proba)
            chosen = self._decode_indices(calibrated)
            confidence: NDArray[np.float64] = calibrated[head][np.arange(len(blended)), chosen[head]]
            return confidence, chosen[head] == truth[head]

        def fit_map(head: str, rows: NDArray[np.bool_] | slice = slice(None)) -> None:
            confidence, correct = shown(head)
            self.confidence_maps_[head] = _fit_confidence_map(confidence[rows], correct[rows])

        self.temperatures_["category"] = _fit_temperature(blended, truth["category"])
        fit_map("category")

        # The subtype temperature shapes P(subtype | category); it is fitted so that the
        # probability shown for the chosen subtype, P(category) × P(subtype | category), matches
        # how often that subtype is right. It does not change which subtype is chosen.
        def subtype_shown(temperature: float) -> NDArray[np.float64]:
            self.temperatures_["subtype"] = temperature
            return shown("subtype")[0]

        correct = shown("subtype")[1]
        self.temperatures_["subtype"] = _fit_confidence_temperature(subtype_shown, correct)
        # The map cannot move the subtype of a category that has no other (its probability is
        # the category's), so those rows do not fit it.
        chosen_category = self._decode_indices(self._calibrate(blended, subtype_proba, tier_proba))["category"]
        fit_map("subtype", self.member_[chosen_category].sum(axis=1) > 1)

        self.temperatures_["tier"] = _fit_temperature(tier_proba, truth["tier"])
        fit_map("tier")

    def _out_of_fold(
        self,
        splits: Splits,
        features: sp.csr_matrix,
        labels: NDArray[np.str_],
        C: float,
        ensemble: bool,
        steps: _Steps,
        head_name: str,
    ) -> NDArray[np.float64]:
        """Probabilities of every row from a head trained without the row's fold (columns: sorted
        classes); `steps` is told as each fold begins."""
        classes = np.unique(labels)
        proba = np.zeros((len(labels), len(classes)))
        for fold, (train, held) in enumerate(splits, 1):
            steps.begin(f"{head_name} out-of-fold {fold}/{len(splits)}")
            head = self._head(C, labels[train], ensemble).fit(features[train], labels[train])
            proba[np.ix_(held, np.searchsorted(classes, head.classes_))] = head.predict_proba(features[held])
        return proba

    def _cues(self, X: Sequence[str]) -> sp.csr_matrix:
        flags = [[self.cue_weight if pattern.search(text) else 0.0 for _, pattern in self.cue_patterns_] for text in X]
        return sp.csr_matrix(np.asarray(flags, dtype=float).reshape(len(X), len(self.cue_patterns_)))

    def _lengths(self, X: Sequence[str]) -> sp.csr_matrix:
        """One-hot length bin (of `LENGTH_EDGES`) per text, times `tier_length_weight`."""
        if not self.tier_length_weight:
            return sp.csr_matrix((len(X), 0))
        bins = np.searchsorted(LENGTH_EDGES, [len(text) for text in X], side="right") - 1
        rows = np.arange(len(X))
        values = np.full(len(X), float(self.tier_length_weight))
        return sp.csr_matrix((values, (rows, bins)), shape=(len(X), len(LENGTH_EDGES)))

    def _tier_features(
        self, base: sp.csr_matrix, subtype_proba: NDArray[np.float64], lengths: sp.csr_matrix
    ) -> sp.csr_matrix:
        return sp.hstack([base, sp.csr_matrix(self.tier_subtype_weight * subtype_proba), lengths], format="csr")

    def _blend(self, category_proba: NDArray[np.float64], subtype_proba: NDArray[np.float64]) -> NDArray[np.float64]:
        """The category blend: direct head and subtype probabilities summed per category."""
        blended: NDArray[np.float64] = self.category_blend * category_proba + (1 - self.category_blend) * (
            subtype_proba @ self.member_.T
        )
        return blended

    def inputs(self, X: Sequence[str]) -> ModelInputs:
        """What the heads read for normalised texts (computed once, shared by prediction and explanation)."""
        base = sp.hstack([self.features_.transform(X), self._cues(X)], format="csr")
        subtype = self.heads_["subtype"].predict_proba(base)
        return ModelInputs(base, subtype, self._tier_features(base, subtype, self._lengths(X)))

    # --------------------------------------------------------------- prediction
    def predict_heads(self, X: Sequence[str]) -> dict[str, HeadProbabilities]:
        """Calibrated probabilities of every head for normalised texts (see `heads`)."""
        return self.heads(self.inputs(X))

    def heads(self, inputs: ModelInputs) -> dict[str, HeadProbabilities]:
        """Calibrated probabilities of every head, consistent with each other (see `_calibrate`)."""
        calibrated = self._calibrate(
            self._blend(self.heads_["category"].predict_proba(inputs.base), inputs.subtype_proba),
            inputs.subtype_proba,
            self.heads_["tier"].predict_proba(inputs.tier_features),
        )
        return {head: HeadProbabilities(self.classes_[head], calibrated[head]) for head in HEADS}

    def _calibrate(
        self, blended: NDArray[np.float64], subtype_proba: NDArray[np.float64], tier_proba: NDArray[np.float64]
    ) -> dict[str, NDArray[np.float64]]:
        """The probabilities shown, from the category blend and the subtype and tier heads.

        Each head is scaled by its temperature (`temperatures_`), then the probability of its
        decoded class is mapped to how often such predictions were right (`confidence_maps_`),
        the other classes scaled to fill the rest. The subtype distribution is P(category) ×
        P(subtype | category); its map moves P(subtype | category) within the chosen category
        only. None of this changes which class is decoded.
        """
        temperature, maps = self.temperatures_, self.confidence_maps_
        rows = np.arange(len(blended))
        category = _scale(blended, temperature["category"])
        category = _remap_top(category, maps["category"](category.max(axis=1)))
        subtype = _scale(subtype_proba, temperature["subtype"])
        owner = self.member_.argmax(axis=0)  # category index of each subtype
        conditional = subtype / np.maximum((subtype @ self.member_.T)[:, owner], 1e-12)
        chosen = category.argmax(axis=1)
        chosen_probability = category[rows, chosen]
        inside = conditional * self.member_[chosen]
        shown = chosen_probability * inside.max(axis=1)
        inside = _remap_top(inside, maps["subtype"](shown) / np.maximum(chosen_probability, 1e-12))
        conditional = np.where(self.member_[chosen] > 0, inside, conditional)
        tier = _scale(tier_proba, temperature["tier"])
        return {
            "category": category,
            "subtype": category[:, owner] * conditional,
            "tier": _remap_top(tier, maps["tier"](tier.max(axis=1))),
        }

    def _decode_indices(self, proba: Mapping[str, NDArray[np.float64]]) -> dict[str, NDArray[np.intp]]:
        """Class index per head and row: the subtype is the best one of the chosen category."""
        category = proba["category"].argmax(axis=1)
        return {
            "category": category,
            "subtype": np.where(self.member_[category] > 0, proba["subtype"], -1.0).argmax(axis=1),
            "tier": proba["tier"].argmax(axis=1),
        }

    def decode(self, heads: Mapping[str, HeadProbabilities]) -> list[tuple[str, str, str]]:
        """(category, subtype, tier) per row: the subtype is the best one of the chosen category."""
        chosen = self._decode_indices({head: heads[head].proba for head in HEADS})
        return [
            (self.classes_["category"][c], self.classes_["subtype"][s], self.classes_["tier"][t])
            for c, s, t in zip(chosen["category"], chosen["subtype"], chosen["tier"])
        ]

    def predict(self, X: Sequence[str]) -> NDArray[np.object_]:
        """Label rows (category, subtype, tier) for normalised texts."""
        return np.array(self.decode(self.predict_heads(X)), dtype=object)

    # ------------------------------------------------------------- explanation
    def contributions(
        self, inputs: ModelInputs, row: int, labels: Sequence[str], top: int = 5
    ) -> dict[str, list[Contribution]]:
        """Per head, the features of text `row` of `inputs` that pushed it most towards its label.

        `labels` is (category, subtype, tier). Linear weights are averaged over each head's
        calibrated models; temperature scaling is monotone, so a larger contribution always means
        a higher probability. The category head is explained by its direct classifier.
        """
        base, tier_features = inputs.base[row], inputs.tier_features[row]
        keys = self._explanation_keys()
        explained: dict[str, list[Contribution]] = {}
        for head, label in zip(HEADS, labels):
            features = tier_features if head == "tier" else base
            columns = features.indices
            weights = features.data * self.heads_[head].class_weights(self.classes_[head].index(label), columns)
            key_ids = keys[columns]
            shown = key_ids >= 0
            columns, weights, key_ids = columns[shown], weights[shown], key_ids[shown]
            # A term in both blocks (the word 退款 and the characters 退款) is one term, named as
            # the first of its columns; the terms in order of first column, then by weight.
            _, first, which = np.unique(key_ids, return_index=True, return_inverse=True)
            summed = np.bincount(which, weights=weights)
            by_column = np.argsort(first, kind="stable")
            ranked = by_column[np.argsort(-summed[by_column], kind="stable")]
            explained[head] = []
            for k in ranked[:top]:
                if summed[k] <= 0:
                    break
                kind, term = self._column_name(int(columns[first[k]]))
                explained[head].append(Contribution(term, kind, float(summed[k])))
        return explained

    def _explanation_keys(self) -> NDArray[np.int64]:
        """Per column of the tier features, the id of the term it explains (-1: a character n-gram
        that means nothing to a reader, `_explains`): equal for the word and the character n-gram
        of the same text. Made at the first explanation (a pass over the vocabulary) and kept."""
        keys: NDArray[np.int64] | None = self.__dict__.get("_explanation_keys_cache")
        if keys is None:
            ids: dict[str, int] = {}
            column_keys = []
            for column in range(self.heads_["tier"].weights.shape[0]):
                kind, term = self._column_name(column)
                if kind == "char" and not _explains(term):
                    column_keys.append(-1)
                    continue
                key = f"{kind}:{term}" if kind in ("cue", "subtype", "length") else term.replace(" ", "")
                column_keys.append(ids.setdefault(key, len(ids)))
            keys = np.asarray(column_keys, dtype=np.int64)
            self.__dict__["_explanation_keys_cache"] = keys
        return keys

    def _column_name(self, column: int) -> tuple[str, str]:
        """(kind, term) of a column of the tier features, whose first columns are the other heads'
        (the text features, then the cues), then the subtype probabilities and the length bins.
        Looked up per column: a copy of the vocabulary's names per explanation cost a millisecond."""
        names = self.features_.feature_names_
        if column < len(names):
            return names[column]
        column -= len(names)
        if column < len(self.cue_patterns_):
            return "cue", self.cue_patterns_[column][0]
        column -= len(self.cue_patterns_)
        subtypes = self.classes_["subtype"]
        if column < len(subtypes):
            return "subtype", subtypes[column]
        return "length", _length_range(column - len(subtypes))


def _cross_fitted_head(
    svc: LinearSVC,
    splits: Splits,
    features: sp.csr_matrix,
    labels: NDArray[np.str_],
    ensemble: bool,
    steps: _Steps,
    name: str,
) -> tuple[StackedHead, NDArray[np.str_], NDArray[np.float64]]:
    """A head calibrated by temperature scaling as `CalibratedClassifierCV(svc, method=
    "temperature", cv=splits, ensemble=ensemble)` fits it, its classes, and the probabilities of
    every row from the fold model that did not see it.

    With `ensemble`, the head is the fold models, each with the temperature fitted on its held-out
    fold; without, one model fitted on every row, with the temperature fitted on the fold models'
    out-of-fold decision values (which give the out-of-fold probabilities)."""
    classes = np.unique(labels)
    truth = np.searchsorted(classes, labels)
    decision = np.zeros((len(labels), len(classes)))
    models: list[LinearSVC] = []
    betas: list[float] = []
    for fold, (train, held) in enumerate(splits, 1):
        steps.begin(f"{name} fold {fold}/{len(splits)}")
        model = clone(svc).fit(features[train], labels[train])
        if not np.array_equal(model.classes_, classes):
            raise ValueError(f"every {name} class needs training rows in every fold")
        decision[held] = model.decision_function(features[held])
        if ensemble:
            models.append(model)
            betas.append(_fit_inverse_temperature(decision[held], truth[held]))
    if not ensemble:
        steps.begin(f"{name} final")
        models = [clone(svc).fit(features, labels)]
        betas = [_fit_inverse_temperature(decision, truth)]
    proba = np.zeros_like(decision)
    for index, (_, held) in enumerate(splits):
        proba[held] = softmax(betas[index if ensemble else 0] * decision[held], axis=1)
    return StackedHead.of_models(models, betas), classes, proba


def _fit_inverse_temperature(decision: NDArray[np.float64], truth: NDArray[np.intp]) -> float:
    """The inverse temperature β minimising the log-loss of softmax(β × decision values) against
    true class indices, searched as `CalibratedClassifierCV`'s temperature method does (ln β
    within [−10, 10])."""
    rows = np.arange(len(truth))

    def log_loss(log_beta: float) -> float:
        logits = np.exp(log_beta) * decision
        return float(np.mean(logsumexp(logits, axis=1) - logits[rows, truth]))

    found = minimize_scalar(log_loss, bounds=(-10.0, 10.0), method="bounded", options={"xatol": 1e-10})
    return float(np.exp(found.x))


class _Steps:
    """Counts the sub-steps of a fit and tells a `FitProgress` (if any) as each one begins."""

    def __init__(self, progress: FitProgress | None, total: int) -> None:
        self.progress = progress
        self.total = total
        self.done = -1

    def begin(self, step: str) -> None:
        """Sub-step `step` begins (the one before it, if any, is done)."""
        self.done += 1
        if self.progress is not None:
            self.progress(step, self.done, self.total)

    def end(self) -> None:
        """The last sub-step is done."""
        if self.progress is not None:
            self.progress("done", self.total, self.total)


def _explains(char_term: str) -> bool:
    """Whether a character n-gram means something to a reader: not a space, no piece of a Latin
    word, a number or brackets ("p" of APP, "p闪" of APP闪退, "[" or "E]" of [E], "12" of
    12315; the word block shows whole words and numbers), and not punctuation alone but for ! and ?
    (a comma says nothing; "!!" says how upset the customer is)."""
    stripped = char_term.strip()
    if not stripped or any(char.isascii() and (char.isalnum() or char in "[]@") for char in stripped):
        return False
    return not all(unicodedata.category(char).startswith("P") for char in stripped) or set(stripped) <= set("!?")


def _cue_pattern(word: str) -> str:
    """A cue word as a pattern; a cue that starts or ends with a digit ("315", "12315") does not
    match inside a longer number (an order number or a date such as 20240315)."""
    before = r"(?<!\d)" if word[:1].isdigit() else ""
    after = r"(?!\d)" if word[-1:].isdigit() else ""
    return before + re.escape(word) + after


def _length_range(index: int) -> str:
    """The characters a length bin covers, such as "20-31" or "200+"."""
    if index + 1 == len(LENGTH_EDGES):
        return f"{LENGTH_EDGES[index]}+"
    return f"{LENGTH_EDGES[index]}-{LENGTH_EDGES[index + 1] - 1}"


def _scale(proba: NDArray[np.float64], temperature: float) -> NDArray[np.float64]:
    """Probabilities raised to 1/temperature and renormalised (temperature scaling of their logs)."""
    if temperature == 1.0:
        return proba
    logits = np.log(np.maximum(proba, 1e-12)) / temperature
    scaled = np.exp(logits - logits.max(axis=1, keepdims=True))
    result: NDArray[np.float64] = scaled / scaled.sum(axis=1, keepdims=True)
    return result


def _minimise_over_temperature(loss: Callable[[float], float]) -> float:
    """The temperature within [e^-2, e^2] that minimises `loss(temperature)`."""
    found = minimize_scalar(lambda log_t: loss(float(np.exp(log_t))), bounds=_LOG_T_BOUNDS, method="bounded")
    return float(np.exp(found.x))


def _fit_temperature(proba: NDArray[np.float64], truth: NDArray[np.intp]) -> float:
    """The temperature minimising the log-loss of `_scale(proba, t)` against true class indices."""

    def log_loss(temperature: float) -> float:
        scaled = _scale(proba, temperature)
        return float(-np.log(np.maximum(scaled[np.arange(len(truth)), truth], 1e-12)).mean())

    return _minimise_over_temperature(log_loss)


def _fit_confidence_temperature(
    confidence: Callable[[float], NDArray[np.float64]], correct: NDArray[np.bool_]
) -> float:
    """The temperature whose confidences (`confidence(t)`, one per row) best predict `correct`
    (binary log-loss)."""

    def log_loss(temperature: float) -> float:
        shown = np.clip(confidence(temperature), 1e-12, 1 - 1e-12)
        return float(-np.where(correct, np.log(shown), np.log1p(-shown)).mean())

    return _minimise_over_temperature(log_loss)


def _remap_top(proba: NDArray[np.float64], top: NDArray[np.float64]) -> NDArray[np.float64]:
    """`proba` with each row's largest probability set to `top` and the others scaled to fill
    the rest of the row's sum.

    `top` is clipped so that the class stays strictly the largest and at most the row's sum; a
    row whose other probabilities are all zero (a single possible class) is left as it is.
    """
    rows = np.arange(len(proba))
    best = proba.argmax(axis=1)
    largest = proba[rows, best]
    others = proba.copy()
    others[rows, best] = 0.0
    # Summed apart from the largest, not as total − largest: tiny others keep their precision.
    rest, second = others.sum(axis=1), others.max(axis=1)
    total = largest + rest
    movable = rest > 1e-12 * total
    # The largest of the others, once scaled, is second × (total − top) / rest; top must exceed it.
    floor = np.minimum(largest, second * total / np.maximum(rest + second, 1e-300) * (1 + 1e-9))
    new = np.where(movable, np.clip(top, floor, total), largest)
    result = others * np.where(movable, (total - new) / np.maximum(rest, 1e-300), 1.0)[:, None]
    result[rows, best] = new
    return result


def _beta_features(probability: NDArray[np.float64]) -> NDArray[np.float64]:
    """Columns ln p and −ln(1 − p) of beta calibration (p kept off 0 and 1)."""
    p = np.clip(probability, 1e-12, 1 - 1e-12)
    return np.stack([np.log(p), -np.log1p(-p)], axis=1)


def _fit_confidence_map(confidence: NDArray[np.float64], correct: NDArray[np.bool_]) -> ConfidenceMap:
    """The beta calibration map of shown probabilities `confidence` to `correct`: maximum
    likelihood with a, b ≥ 0 (so that the map never decreases) and a weak pull towards the
    identity, worth one row, which keeps the map finite when the rows happen to be separable (all
    wrong below some probability, all right above). No rows: the identity."""
    if not len(confidence):
        return IDENTITY
    features = np.column_stack([_beta_features(confidence), np.ones(len(confidence))])
    target = np.asarray(correct, dtype=float)
    identity = np.array([IDENTITY.a, IDENTITY.b, IDENTITY.c])

    def loss(params: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        logits = features @ params
        prior = params - identity
        value = np.mean(np.logaddexp(0.0, logits) - target * logits) + prior @ prior / (2 * len(target))
        gradient = features.T @ (expit(logits) - target) / len(target) + prior / len(target)
        return float(value), gradient

    bounds = [(0.0, None), (0.0, None), (None, None)]
    a, b, c = minimize(loss, identity, jac=True, bounds=bounds, method="L-BFGS-B").x
    return ConfidenceMap(float(a), float(b), float(c))
