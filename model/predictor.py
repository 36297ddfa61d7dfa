"""`TriageModel`: raw complaint text in, `Prediction` out (the one object the service uses)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from model.classifier import HEADS, ComplaintClassifier, Contribution, HeadProbabilities
from model.demand import DemandExtractor
from model.errors import InputTextError
from model.prediction import ExplanationTerm, LabelScore, Prediction, TermSpan
from model.taxonomy import Taxonomy
from model.text import PLACEHOLDERS, PreparedText, normalise, prepare
from model.tokenize import tokenize_with_spans

# Longer texts are classified on their first MAX_CHARS characters (and flagged "truncated").
MAX_CHARS = 5000
# Fewer Chinese characters than this: too short to judge.
MIN_CJK_CHARS = 4
_CJK = re.compile(r"[\u4e00-\u9fff\u3400-\u4dbf]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")
_PLACEHOLDER_TEXT = tuple(PLACEHOLDERS.values())


def text_issues(normalised: str, truncated: bool = False) -> tuple[str, ...]:
    """Why a normalised text cannot be judged: empty, no_chinese, too_short; plus truncated."""
    issues: list[str] = []
    content = normalised
    for placeholder in _PLACEHOLDER_TEXT:
        content = content.replace(placeholder, "")
    cjk = len(_CJK.findall(content))
    if not content.strip():
        issues.append("empty")
    elif cjk == 0:
        issues.append("no_chinese")
    elif cjk < MIN_CJK_CHARS:
        issues.append("too_short")
    if truncated:
        issues.append("truncated")
    return tuple(issues)


class TriageModel:
    """A fitted classifier with its taxonomy and demand rules; immutable once built."""

    def __init__(self, taxonomy: Taxonomy, classifier: ComplaintClassifier, version: str = "") -> None:
        self.taxonomy = taxonomy
        self.classifier = classifier
        self.version = version
        self.demands = DemandExtractor(taxonomy)

    def predict(self, text: str, explain: bool = True, top_terms: int = 5) -> Prediction:
        """Classify one complaint, with the terms that drove each head when `explain`."""
        return self.predict_many([text], explain=explain, top_terms=top_terms)[0]

    def predict_many(
        self, texts: Sequence[str], explain: bool = False, top_terms: int = 5
    ) -> list[Prediction]:
        """Classify complaints in one vectorised pass; raises InputTextError for a non-string."""
        clipped: list[str] = []
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise InputTextError(f"text #{index}: expected a string, got {type(text).__name__}")
            clipped.append(text[:MAX_CHARS])
        normalised = [normalise(text) for text in clipped]
        heads = self.classifier.predict_heads(normalised) if clipped else {}
        decoded = self.classifier.decode(heads) if clipped else []
        predictions = []
        for i, (text, norm) in enumerate(zip(clipped, normalised)):
            prepared = prepare(text) if explain or any(p in norm for p in _PLACEHOLDER_TEXT) else None
            predictions.append(
                self._prediction(
                    i, text, norm, prepared, heads, decoded[i],
                    truncated=len(texts[i]) > MAX_CHARS, explain=explain, top_terms=top_terms,
                )
            )
        return predictions

    def _score(self, head: HeadProbabilities, row: int, code: str, name: str) -> LabelScore:
        return LabelScore(code, name, round(float(head.proba[row, head.classes.index(code)]), 4))

    def _prediction(
        self,
        row: int,
        text: str,
        norm: str,
        prepared: PreparedText | None,
        heads: dict[str, HeadProbabilities],
        labels: tuple[str, str, str],
        *,
        truncated: bool,
        explain: bool,
        top_terms: int,
    ) -> Prediction:
        taxonomy = self.taxonomy
        category_code, subtype_code, tier_code = labels
        subtype_head = heads["subtype"]
        order = np.argsort(-subtype_head.proba[row])[:3]
        top = tuple(
            self._score(subtype_head, row, code, taxonomy.subtypes[code].name)
            for code in (subtype_head.classes[j] for j in order)
        )
        department_code = taxonomy.department_of(subtype_code)
        department_probability = sum(
            float(subtype_head.proba[row, j])
            for j, code in enumerate(subtype_head.classes)
            if taxonomy.department_of(code) == department_code
        )
        demand = self.demands.extract(norm)
        explanation: dict[str, tuple[ExplanationTerm, ...]] = {}
        if explain and prepared is not None:
            for head, code in zip(HEADS, labels):
                contributions = self.classifier.contributions(prepared.text, head, code, top_terms)
                explanation[head] = tuple(_locate(item, prepared) for item in contributions)
        return Prediction(
            category=self._score(heads["category"], row, category_code, taxonomy.categories[category_code].name),
            subtype=self._score(subtype_head, row, subtype_code, taxonomy.subtypes[subtype_code].name),
            tier=self._score(heads["tier"], row, tier_code, taxonomy.tiers[tier_code].name),
            top_subtypes=top,
            department=LabelScore(
                department_code, taxonomy.departments[department_code], round(department_probability, 4)
            ),
            demand=LabelScore(demand.code, taxonomy.demands[demand.code].name, 1.0),
            explanation=explanation,
            masked_text=prepared.masked_original() if prepared is not None else text,
            judgeable=not [issue for issue in text_issues(norm, truncated) if issue != "truncated"],
            issues=text_issues(norm, truncated),
            model_version=self.version,
        )

    def describe(self) -> dict[str, Any]:
        """Parameters of the classifier, for metadata and the API."""
        return {key: _jsonable(value) for key, value in self.classifier.get_params().items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value


def _locate(contribution: Contribution, prepared: PreparedText) -> ExplanationTerm:
    """Find where a contributing term occurs in the prepared text, as original/masked spans."""
    spans: list[tuple[int, int]] = []
    if contribution.kind == "word":
        words = contribution.term.split(" ")
        tokens = tokenize_with_spans(prepared.text)
        for i in range(len(tokens) - len(words) + 1):
            if [token for token, _, _ in tokens[i : i + len(words)]] == words:
                spans.append((tokens[i][1], tokens[i + len(words) - 1][2]))
    else:
        haystack = prepared.text.lower()
        if len(haystack) != len(prepared.text):
            haystack = prepared.text
        start = haystack.find(contribution.term)
        while start >= 0:
            spans.append((start, start + len(contribution.term)))
            start = haystack.find(contribution.term, start + len(contribution.term))
    located = []
    for start, end in spans:
        original_start, original_end = prepared.original_span(start, end)
        masked_start, masked_end = prepared.masked_span(original_start, original_end)
        located.append(TermSpan(original_start, original_end, masked_start, max(masked_start, masked_end)))
    return ExplanationTerm(contribution.term, round(contribution.weight, 4), tuple(located))
