"""The estimator: TF-IDF features, calibrated linear heads, hierarchical decoding, explanations.

`ComplaintClassifier` follows scikit-learn's conventions: `__init__` only stores parameters,
`fit(X, y)` learns (X: normalised texts, y: rows of (category, subtype, tier) codes) and
returns self, fitted state lives in attributes ending in `_`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.svm import LinearSVC

from model.features import TextFeatures

HEADS = ("category", "subtype", "tier")


@dataclass(frozen=True)
class HeadProbabilities:
    """Calibrated probabilities of one head: `classes[j]` has probability `proba[:, j]`."""

    classes: tuple[str, ...]
    proba: NDArray[np.float64]


@dataclass(frozen=True)
class Contribution:
    """A feature's contribution to one class score: TF-IDF value × weight of the class."""

    term: str
    kind: str  # "word" (jieba tokens joined by spaces) or "char" (character n-gram)
    weight: float


class ComplaintClassifier(ClassifierMixin, BaseEstimator):
    """Three calibrated linear heads over word and character TF-IDF, with consistent decoding.

    Parameters
    ----------
    subtype_categories:
        subtype code → category code; decoding never returns a subtype of another category.
    word_ngram_range, char_ngram_range:
        n-gram ranges of the jieba-word and character TF-IDF blocks (`char_ngram_range=None`
        turns the character block off).
    min_df:
        minimum document frequency of a feature.
    C:
        inverse regularisation of every LinearSVC head.
    class_weight:
        passed to LinearSVC ("balanced" weighs rare classes up, which is what macro-F1 needs).
    calibration:
        "sigmoid" or "isotonic", fitted on `calibration_folds` cross-validation folds.
    category_blend:
        weight of the direct category head; the rest comes from summing subtype probabilities.
    """

    def __init__(
        self,
        subtype_categories: Mapping[str, str] | None = None,
        word_ngram_range: tuple[int, int] = (1, 2),
        char_ngram_range: tuple[int, int] | None = (1, 3),
        min_df: int = 2,
        C: float = 0.5,
        class_weight: str | None = "balanced",
        calibration: str = "sigmoid",
        calibration_folds: int = 5,
        category_blend: float = 0.5,
    ) -> None:
        self.subtype_categories = subtype_categories
        self.word_ngram_range = word_ngram_range
        self.char_ngram_range = char_ngram_range
        self.min_df = min_df
        self.C = C
        self.class_weight = class_weight
        self.calibration = calibration
        self.calibration_folds = calibration_folds
        self.category_blend = category_blend

    # ------------------------------------------------------------------ fitting
    def _head(self, n_samples_smallest: int) -> CalibratedClassifierCV:
        folds = max(2, min(self.calibration_folds, n_samples_smallest))
        return CalibratedClassifierCV(
            LinearSVC(C=self.C, class_weight=self.class_weight),
            method=self.calibration,
            cv=folds,
            ensemble=False,
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
        self.features_ = TextFeatures(self.word_ngram_range, self.char_ngram_range, self.min_df)
        features = self.features_.fit_transform(X)
        self.heads_: dict[str, CalibratedClassifierCV] = {}
        for index, head in enumerate(HEADS):
            column = labels[:, index].astype(str)
            _, counts = np.unique(column, return_counts=True)
            self.heads_[head] = self._head(int(counts.min())).fit(features, column)
        self.classes_ = {head: tuple(str(c) for c in self.heads_[head].classes_) for head in HEADS}
        return self

    def transform(self, X: Sequence[str]) -> sp.csr_matrix:
        """The TF-IDF feature matrix of normalised texts."""
        return self.features_.transform(X)

    # --------------------------------------------------------------- prediction
    def predict_heads(self, X: Sequence[str]) -> dict[str, HeadProbabilities]:
        """Calibrated probabilities of every head; category blends in the subtype head."""
        features = self.transform(X)
        raw = {head: self.heads_[head].predict_proba(features) for head in HEADS}
        categories = self.classes_["category"]
        from_subtypes = np.zeros_like(raw["category"])
        category_index = {code: j for j, code in enumerate(categories)}
        for j, subtype in enumerate(self.classes_["subtype"]):
            from_subtypes[:, category_index[self.subtype_categories_[subtype]]] += raw["subtype"][:, j]
        blended = self.category_blend * raw["category"] + (1 - self.category_blend) * from_subtypes
        return {
            "category": HeadProbabilities(categories, blended),
            "subtype": HeadProbabilities(self.classes_["subtype"], raw["subtype"]),
            "tier": HeadProbabilities(self.classes_["tier"], raw["tier"]),
        }

    def decode(self, heads: Mapping[str, HeadProbabilities]) -> list[tuple[str, str, str]]:
        """(category, subtype, tier) per row: the subtype is the best one of the chosen category."""
        category = heads["category"]
        subtype = heads["subtype"]
        tier = heads["tier"]
        member = np.array([[self.subtype_categories_[s] == c for s in subtype.classes] for c in category.classes])
        rows = []
        for i in range(category.proba.shape[0]):
            c = int(np.argmax(category.proba[i]))
            s = int(np.argmax(np.where(member[c], subtype.proba[i], -1.0)))
            t = int(np.argmax(tier.proba[i]))
            rows.append((category.classes[c], subtype.classes[s], tier.classes[t]))
        return rows

    def predict(self, X: Sequence[str]) -> NDArray[np.object_]:
        """Label rows (category, subtype, tier) for normalised texts."""
        return np.array(self.decode(self.predict_heads(X)), dtype=object)

    # ------------------------------------------------------------- explanation
    def contributions(self, text: str, head: str, label: str, top: int = 5) -> list[Contribution]:
        """The features of `text` that pushed `head` most towards `label`, strongest first.

        For the category head the direct category classifier is explained (the subtype head's
        part of the blend has its own explanation).
        """
        calibrated = self.heads_[head].calibrated_classifiers_[0]
        estimator = calibrated.estimator
        row = list(self.heads_[head].classes_).index(label)
        coef = estimator.coef_[row]
        features = self.transform([text])
        names = self.features_.feature_names_
        scored: dict[str, Contribution] = {}
        for j, value in zip(features.indices, features.data):
            weight = float(value * coef[j])
            kind, term = names[j]
            key = term.replace(" ", "")
            if key in scored:
                weight += scored[key].weight
                kind = scored[key].kind
                term = scored[key].term
            scored[key] = Contribution(term, kind, weight)
        ranked = sorted(scored.values(), key=lambda item: item.weight, reverse=True)
        return [item for item in ranked if item.weight > 0][:top]
