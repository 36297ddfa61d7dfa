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
- subtype = the best subtype of the chosen category; its probability is P(category) ×
  P(subtype | category), so every subtype's probability fits its category's;
- tier: the same features plus out-of-fold subtype probabilities (stacking).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

from model.features import TextFeatures

HEADS = ("category", "subtype", "tier")


@dataclass(frozen=True)
class HeadProbabilities:
    """Calibrated probabilities of one head: `classes[j]` has probability `proba[:, j]`."""

    classes: tuple[str, ...]
    proba: NDArray[np.float64]


@dataclass(frozen=True)
class ModelInputs:
    """Features of a batch of texts: shared block, subtype probabilities, tier block."""

    base: sp.csr_matrix
    subtype_proba: NDArray[np.float64]
    tier_features: sp.csr_matrix


@dataclass(frozen=True)
class Contribution:
    """A feature's contribution to one class score: feature value × weight of the class.

    `kind` is "word" (jieba tokens joined by spaces), "char" (character n-gram), "cue" (a group
    of tier cue words; `term` is the group name) or "subtype" (the tier head's input of the
    subtype probabilities; `term` is the subtype code).
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
    calibration, calibration_folds, subtype_ensemble:
        CalibratedClassifierCV method and folds; the subtype head averages its fold models.
    category_blend:
        weight of the direct category head; the rest comes from summing subtype probabilities.
    tier_subtype_weight:
        weight of the (out-of-fold) subtype probabilities among the tier head's features.
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
        calibration: str = "temperature",
        calibration_folds: int = 5,
        subtype_ensemble: bool = True,
        category_blend: float = 0.5,
        tier_subtype_weight: float = 1.0,
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
        self.calibration = calibration
        self.calibration_folds = calibration_folds
        self.subtype_ensemble = subtype_ensemble
        self.category_blend = category_blend
        self.tier_subtype_weight = tier_subtype_weight

    # ------------------------------------------------------------------ fitting
    def _head(self, C: float, labels: NDArray[np.str_], ensemble: bool) -> CalibratedClassifierCV:
        _, counts = np.unique(labels, return_counts=True)
        folds = max(2, min(self.calibration_folds, int(counts.min())))
        return CalibratedClassifierCV(
            LinearSVC(C=C, class_weight=self.class_weight), method=self.calibration, cv=folds, ensemble=ensemble
        )

    def fit(self, X: Sequence[str], y: Sequence[Sequence[str]]) -> ComplaintClassifier:
        """Learn from normalised texts `X` and label rows `y` = (category, subtype, tier)."""
        labels = np.asarray(y, dtype=object)
        if labels.ndim != 2 or labels.shape[1] != 3 or labels.shape[0] != len(X):
            raise ValueError("y must have one (category, subtype, tier) row per text")
        mapping = dict(self.subtype_categories or {})
        for category, subtype in zip(labels[:, 0], labels[:, 1]):
            expected = mapping.setdefault(subtype, category)
            if expected != category:
                raise ValueError(f"subtype {subtype!r} is under {expected!r}, not {category!r}")
        self.subtype_categories_ = mapping
        self.cue_patterns_ = [
            (name, re.compile("|".join(re.escape(word) for word in words)))
            for name, words in (self.cue_groups or {}).items()
            if words
        ]
        self.features_ = TextFeatures(self.word_ngram_range, self.char_ngram_range, self.min_df)
        base = sp.hstack([self.features_.fit_transform(X), self._cues(X)], format="csr")
        category, subtype, tier = (labels[:, i].astype(str) for i in range(3))

        self.heads_: dict[str, CalibratedClassifierCV] = {
            "category": self._head(self.C, category, ensemble=False).fit(base, category),
            "subtype": self._head(self.subtype_C, subtype, self.subtype_ensemble).fit(base, subtype),
        }
        # The tier head learns from subtype probabilities it would see on unseen texts.
        subtype_classes = self.heads_["subtype"].classes_
        out_of_fold = np.zeros((len(X), len(subtype_classes)))
        folds = max(2, min(self.calibration_folds, int(np.unique(subtype, return_counts=True)[1].min())))
        for train, held in StratifiedKFold(folds, shuffle=True, random_state=0).split(base, subtype):
            head = self._head(self.subtype_C, subtype[train], self.subtype_ensemble).fit(base[train], subtype[train])
            columns = np.searchsorted(subtype_classes, head.classes_)
            out_of_fold[np.ix_(held, columns)] = head.predict_proba(base[held])
        self.heads_["tier"] = self._head(self.C, tier, ensemble=False).fit(self._tier_features(base, out_of_fold), tier)
        self.classes_ = {head: tuple(str(c) for c in self.heads_[head].classes_) for head in HEADS}
        # Linear weights per head, averaged over its calibrated models (for explanations).
        self.coef_ = {
            head: np.mean([model.estimator.coef_ for model in self.heads_[head].calibrated_classifiers_], axis=0)
            for head in HEADS
        }
        self.member_ = np.array(
            [[self.subtype_categories_[s] == c for s in self.classes_["subtype"]] for c in self.classes_["category"]],
            dtype=float,
        )
        return self

    def _cues(self, X: Sequence[str]) -> sp.csr_matrix:
        flags = [[self.cue_weight if pattern.search(text) else 0.0 for _, pattern in self.cue_patterns_] for text in X]
        return sp.csr_matrix(np.asarray(flags, dtype=float).reshape(len(X), len(self.cue_patterns_)))

    def _tier_features(self, base: sp.csr_matrix, subtype_proba: NDArray[np.float64]) -> sp.csr_matrix:
        return sp.hstack([base, sp.csr_matrix(self.tier_subtype_weight * subtype_proba)], format="csr")

    def inputs(self, X: Sequence[str]) -> ModelInputs:
        """What the heads read for normalised texts (computed once, shared by prediction and explanation)."""
        base = sp.hstack([self.features_.transform(X), self._cues(X)], format="csr")
        subtype = self.heads_["subtype"].predict_proba(base)
        return ModelInputs(base, subtype, self._tier_features(base, subtype))

    # --------------------------------------------------------------- prediction
    def predict_heads(self, X: Sequence[str]) -> dict[str, HeadProbabilities]:
        """Calibrated probabilities of every head for normalised texts (see `heads`)."""
        return self.heads(self.inputs(X))

    def heads(self, inputs: ModelInputs) -> dict[str, HeadProbabilities]:
        """Calibrated probabilities of every head, already consistent with each other.

        Category blends the direct head with summed subtype probabilities; the subtype
        distribution is P(category) × P(subtype | category).
        """
        base, subtype, tier_features = inputs.base, inputs.subtype_proba, inputs.tier_features
        category = self.category_blend * self.heads_["category"].predict_proba(base) + (1 - self.category_blend) * (
            subtype @ self.member_.T
        )
        per_category = subtype @ self.member_.T  # P(subtype's category) under the subtype head
        owner = self.member_.argmax(axis=0)  # category index of each subtype
        joint = category[:, owner] * subtype / np.maximum(per_category[:, owner], 1e-12)
        return {
            "category": HeadProbabilities(self.classes_["category"], category),
            "subtype": HeadProbabilities(self.classes_["subtype"], joint),
            "tier": HeadProbabilities(self.classes_["tier"], self.heads_["tier"].predict_proba(tier_features)),
        }

    def decode(self, heads: Mapping[str, HeadProbabilities]) -> list[tuple[str, str, str]]:
        """(category, subtype, tier) per row: the subtype is the best one of the chosen category."""
        category = heads["category"].proba.argmax(axis=1)
        inside = np.where(self.member_[category] > 0, heads["subtype"].proba, -1.0)
        subtype = inside.argmax(axis=1)
        tier = heads["tier"].proba.argmax(axis=1)
        return [
            (self.classes_["category"][c], self.classes_["subtype"][s], self.classes_["tier"][t])
            for c, s, t in zip(category, subtype, tier)
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
        names = self.features_.feature_names_ + [("cue", name) for name, _ in self.cue_patterns_]
        tier_names = names + [("subtype", code) for code in self.classes_["subtype"]]
        explained = {}
        for head, label in zip(HEADS, labels):
            features, head_names = (tier_features, tier_names) if head == "tier" else (base, names)
            coef = self.coef_[head][self.classes_[head].index(label)]
            scored: dict[str, Contribution] = {}
            for j, value in zip(features.indices, features.data):
                kind, term = head_names[j]
                key = f"{kind}:{term}" if kind in ("cue", "subtype") else term.replace(" ", "")
                weight = float(value * coef[j])
                if key in scored:
                    weight += scored[key].weight
                    kind, term = scored[key].kind, scored[key].term
                scored[key] = Contribution(term, kind, weight)
            ranked = sorted(scored.values(), key=lambda item: item.weight, reverse=True)
            explained[head] = [item for item in ranked if item.weight > 0][:top]
        return explained
