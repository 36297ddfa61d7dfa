"""Choose features and hyper-parameters of the complaint classifier by 5-fold CV on train.

Everything here is decided on the training split only (5 folds, stratified by subtype); the
dev split is touched once, at the end, with `--dev`, to report the already chosen winner
next to the plain baselines. Texts are normalised once (`model.text.normalise`) and segmented
once (`model.tokenize.tokenize`); the word TF-IDF blocks read those cached token lists through
an identity analyzer, so the search never runs jieba again.

Each candidate is a feature set (word and/or character TF-IDF blocks, optional keyword flags)
plus one linear head per label (LinearSVC, logistic regression or ridge; optionally calibrated
with `CalibratedClassifierCV`) plus a way to combine the heads:

- category: the direct category head, the sum of subtype probabilities per category, or a
  blend of both;
- subtype: flat arg-max, or hierarchical (best subtype inside the chosen category);
- tier: the direct tier head, optionally with keyword flags and out-of-fold subtype
  probabilities as extra features.

Predictions are the arg-max of the (calibrated) probabilities, i.e. what the product shows;
macro-F1, accuracy and the expected calibration error of the top-label confidence (15
equal-width bins) are averaged over the five folds.

Run from /work/main:  python bench/cv_search.py [--dev]
"""

from __future__ import annotations

import csv
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np
import scipy.sparse as sp
from numpy.typing import NDArray
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression, RidgeClassifier
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from model.text import normalise  # noqa: E402
from model.tokenize import tokenize  # noqa: E402

DATA_DIR = ROOT.parent / "shared" / "data"
HEADS = ("category", "subtype", "tier")
N_FOLDS = 5
SEED = 0
ECE_BINS = 15

# Cue words of the tier definition (taxonomy.md, "Urgency tiers"): each group is one feature.
KEYWORD_GROUPS: dict[str, tuple[str, ...]] = {
    "escalation": ("12315", "消协", "消费者协会", "工商", "银保监", "银监", "保监", "监管", "投诉到",
                   "曝光", "媒体", "律师", "起诉", "法院", "报警", "警察", "维权", "315"),
    "safety": ("变质", "发霉", "异物", "虫", "头发", "过期", "拉肚子", "吃坏", "腹泻", "呕吐",
               "过敏", "医院", "漏电", "起火", "爆炸", "烫伤", "中毒"),
    "money": ("盗刷", "扣款", "扣费", "扣钱", "多扣", "乱收费", "被扣", "自动续费", "套路贷",
              "高利贷", "砍头息"),
    "unusable": ("无法使用", "无法开机", "开不了机", "不能用", "用不了", "完全不"),
}


# ----------------------------------------------------------------------------- data
@dataclass(frozen=True)
class Split:
    """One labelled split: normalised texts, their jieba tokens and the three label columns."""

    texts: list[str]
    tokens: list[list[str]]
    labels: dict[str, NDArray[np.str_]]


def load_split(name: str) -> Split:
    """Read `complaints_<name>.csv`, normalise and tokenise every text once."""
    with open(DATA_DIR / f"complaints_{name}.csv", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    texts = [normalise(row["text"]) for row in rows]
    tokens = [tokenize(text) for text in texts]
    labels = {head: np.array([row[head] for row in rows]) for head in HEADS}
    return Split(texts, tokens, labels)


def subtype_categories(split: Split) -> dict[str, str]:
    """subtype → category, as the data labels them."""
    return dict(zip(split.labels["subtype"], split.labels["category"]))


# ------------------------------------------------------------------------- features
def word_ngrams(tokens: Sequence[str], ngram_range: tuple[int, int]) -> list[str]:
    """Identity analyzer over cached tokens, adding space-joined n-grams."""
    low, high = ngram_range
    grams = list(tokens) if low == 1 else []
    for n in range(max(2, low), high + 1):
        grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return grams


def keyword_flags(texts: Sequence[str]) -> sp.csr_matrix:
    """One 0/1 column per keyword group of `KEYWORD_GROUPS`."""
    patterns = [re.compile("|".join(map(re.escape, words))) for words in KEYWORD_GROUPS.values()]
    flags = np.array([[bool(p.search(text)) for p in patterns] for text in texts], dtype=float)
    return sp.csr_matrix(flags)


@dataclass(frozen=True)
class Features:
    """TF-IDF blocks and their weights. `None` turns a block off."""

    word: tuple[int, int] | None = (1, 1)
    char: tuple[int, int] | None = None
    min_df: int = 1
    max_df: float = 1.0
    sublinear_tf: bool = False
    char_weight: float = 1.0
    keywords: float = 0.0  # weight of the keyword-flag block (0 = off)

    def label(self) -> str:
        parts = []
        if self.word:
            parts.append(f"w{self.word[0]}-{self.word[1]}")
        if self.char:
            parts.append(f"c{self.char[0]}-{self.char[1]}" + (f"x{self.char_weight:g}" if self.char_weight != 1 else ""))
        if self.min_df > 1:
            parts.append(f"df{self.min_df}")
        if self.max_df < 1:
            parts.append(f"maxdf{self.max_df:g}")
        if self.sublinear_tf:
            parts.append("sub")
        if self.keywords:
            parts.append(f"kw{self.keywords:g}")
        return "+".join(parts)


def fit_features(spec: Features, train: Split, train_idx: NDArray, test_sets: Sequence[tuple[Split, NDArray]]):
    """Fit the vectorisers on `train[train_idx]`; return the train matrix and one per test set."""
    common = dict(min_df=spec.min_df, max_df=spec.max_df, sublinear_tf=spec.sublinear_tf)
    blocks: list[tuple[Callable, Callable, float]] = []  # (fit_transform, transform, weight)
    if spec.word:
        vectorizer = TfidfVectorizer(analyzer=partial(word_ngrams, ngram_range=spec.word), **common)
        blocks.append((vectorizer, "tokens", 1.0))
    if spec.char:
        vectorizer = TfidfVectorizer(analyzer="char", ngram_range=spec.char, lowercase=True, **common)
        blocks.append((vectorizer, "texts", spec.char_weight))

    def pick(split: Split, idx: NDArray, source: str) -> list:
        items = split.tokens if source == "tokens" else split.texts
        return [items[i] for i in idx]

    train_parts = [w * v.fit_transform(pick(train, train_idx, src)) for v, src, w in blocks]
    test_parts = [[w * v.transform(pick(s, idx, src)) for v, src, w in blocks] for s, idx in test_sets]
    if spec.keywords:
        train_parts.append(spec.keywords * keyword_flags(pick(train, train_idx, "texts")))
        for parts, (s, idx) in zip(test_parts, test_sets):
            parts.append(spec.keywords * keyword_flags(pick(s, idx, "texts")))
    return sp.hstack(train_parts, format="csr"), [sp.hstack(p, format="csr") for p in test_parts]


# --------------------------------------------------------------------------- heads
@dataclass(frozen=True)
class Head:
    """A linear classifier for one label, and how its scores become probabilities."""

    kind: str = "svm"  # "svm" (LinearSVC), "lr" (multinomial LogisticRegression), "ridge"
    C: float = 1.0
    class_weight: str | None = None
    calibration: str | None = None  # None, "sigmoid" or "isotonic" (CalibratedClassifierCV, cv=5)

    def label(self) -> str:
        name = f"{self.kind} C={self.C:g}"
        if self.class_weight:
            name += " bal"
        if self.calibration:
            name += f" {self.calibration[:3]}"
        return name

    def estimator(self):
        if self.kind == "svm":
            return LinearSVC(C=self.C, class_weight=self.class_weight)
        if self.kind == "lr":
            return LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=3000)
        if self.kind == "ridge":
            return RidgeClassifier(alpha=1.0 / self.C, class_weight=self.class_weight)
        raise ValueError(f"unknown head kind {self.kind!r}")

    def fit(self, X, y):
        if self.calibration:
            model = CalibratedClassifierCV(self.estimator(), method=self.calibration, cv=N_FOLDS)
        else:
            model = self.estimator()
        return model.fit(X, y)


def scores(model, X) -> NDArray[np.float64]:
    """Probabilities when the model has them, else a softmax of the decision values.

    The softmax only serves ranking (arg-max, summing per category); its "confidence" is not
    calibrated, and ECE is only meaningful for calibrated or logistic heads.
    """
    if hasattr(model, "predict_proba"):
        return model.predict_proba(X)
    decision = model.decision_function(X)
    decision = decision - decision.max(axis=1, keepdims=True)
    exp = np.exp(decision)
    return exp / exp.sum(axis=1, keepdims=True)


def average_heads(heads: Sequence[Head], X, y, X_tests) -> tuple[NDArray, list[NDArray]]:
    """Fit every head on (X, y) and average their probabilities on each test matrix."""
    models = [head.fit(X, y) for head in heads]
    classes = models[0].classes_
    return classes, [np.mean([scores(m, Xt) for m in models], axis=0) for Xt in X_tests]


# ------------------------------------------------------------------------ candidate
@dataclass(frozen=True)
class Candidate:
    """A full configuration: features, heads per label and how the heads are combined."""

    name: str
    features: Features
    heads: tuple[Head, ...]  # averaged (an ensemble when more than one)
    category_blend: float = 1.0  # weight of the direct category head; rest from subtype sums
    hierarchical: bool = False  # subtype = best subtype within the chosen category
    tier_subtype_weight: float = 0.0  # weight of out-of-fold subtype probabilities in tier features
    tier_features: Features | None = None  # other features for the tier head (None = same)
    baseline: bool = False


def fit_predict(cand: Candidate, train: Split, train_idx, test_sets, mapping) -> list[dict[str, tuple]]:
    """Train `cand` on train[train_idx]; (classes, probabilities) per head for each test set."""
    X, X_tests = fit_features(cand.features, train, train_idx, test_sets)
    y = {head: train.labels[head][train_idx] for head in HEADS}
    results: list[dict[str, tuple]] = [{} for _ in test_sets]

    sub_classes, sub_tests = average_heads(cand.heads, X, y["subtype"], X_tests)
    cat_classes, cat_tests = average_heads(cand.heads, X, y["category"], X_tests)
    member = np.array([[mapping[s] == c for s in sub_classes] for c in cat_classes], dtype=float)

    if cand.tier_features is not None:
        X_tier, X_tier_tests = fit_features(cand.tier_features, train, train_idx, test_sets)
    else:
        X_tier, X_tier_tests = X, X_tests
    if cand.tier_subtype_weight:
        # Out-of-fold subtype probabilities on train, so tier does not learn from overfit ones.
        inner = StratifiedKFold(N_FOLDS, shuffle=True, random_state=SEED)
        oof = np.zeros((X.shape[0], len(sub_classes)))
        for inner_train, inner_test in inner.split(X, y["subtype"]):
            classes, (probs,) = average_heads(cand.heads, X[inner_train], y["subtype"][inner_train], [X[inner_test]])
            oof[np.ix_(inner_test, np.searchsorted(sub_classes, classes))] = probs
        w = cand.tier_subtype_weight
        X_tier = sp.hstack([X_tier, w * sp.csr_matrix(oof)], format="csr")
        X_tier_tests = [sp.hstack([Xt, w * sp.csr_matrix(p)], format="csr") for Xt, p in zip(X_tier_tests, sub_tests)]
    tier_classes, tier_tests = average_heads(cand.heads, X_tier, y["tier"], X_tier_tests)

    for out, sub, cat, tier in zip(results, sub_tests, cat_tests, tier_tests):
        cat_prob = cand.category_blend * cat + (1 - cand.category_blend) * sub @ member.T
        if cand.hierarchical:
            chosen = cat_prob.argmax(axis=1)
            masked = np.where(member[chosen] > 0, sub, -1.0)
            sub_pred = sub_classes[masked.argmax(axis=1)]
        else:
            sub_pred = sub_classes[sub.argmax(axis=1)]
        out["category"] = (cat_classes[cat_prob.argmax(axis=1)], cat_prob.max(axis=1))
        out["subtype"] = (sub_pred, sub.max(axis=1))  # confidence: the top subtype probability
        out["tier"] = (tier_classes[tier.argmax(axis=1)], tier.max(axis=1))
    return results


# ------------------------------------------------------------------------- metrics
def expected_calibration_error(confidence, correct, bins: int = ECE_BINS) -> float:
    """ECE of the top-label confidence with `bins` equal-width bins on [0, 1]."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    total = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            total += in_bin.mean() * abs(confidence[in_bin].mean() - correct[in_bin].mean())
    return float(total)


def head_metrics(y_true, y_pred, confidence) -> dict[str, float]:
    correct = (y_true == y_pred).astype(float)
    return {
        "f1": f1_score(y_true, y_pred, average="macro"),
        "acc": float(correct.mean()),
        "ece": expected_calibration_error(confidence, correct),
    }


def cross_validate(cand: Candidate, train: Split, folds, mapping) -> dict[str, dict[str, float]]:
    """Mean and standard deviation over folds of macro-F1, accuracy and ECE per head."""
    per_fold: dict[str, list[dict[str, float]]] = {head: [] for head in HEADS}
    for train_idx, test_idx in folds:
        (result,) = fit_predict(cand, train, train_idx, [(train, test_idx)], mapping)
        for head in HEADS:
            pred, conf = result[head]
            per_fold[head].append(head_metrics(train.labels[head][test_idx], pred, conf))
    summary = {}
    for head in HEADS:
        summary[head] = {k: float(np.mean([m[k] for m in per_fold[head]])) for k in ("f1", "acc", "ece")}
        summary[head]["f1_sd"] = float(np.std([m["f1"] for m in per_fold[head]]))
    return summary


def evaluate_on(cand: Candidate, train: Split, test: Split, mapping) -> dict[str, dict[str, float]]:
    """Train on the whole of `train`, score on `test` once."""
    (result,) = fit_predict(cand, train, np.arange(len(train.texts)), [(test, np.arange(len(test.texts)))], mapping)
    return {head: head_metrics(test.labels[head], *result[head]) for head in HEADS}
