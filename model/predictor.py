"""`TriageModel`: raw complaint text in, `Prediction` out (the one object the service uses)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from itertools import islice
from typing import Any

import numpy as np

from model.classifier import HEADS, ComplaintClassifier, Contribution
from model.demand import DemandExtractor
from model.errors import InputTextError
from model.prediction import ExplanationTerm, LabelScore, Prediction, TermSpan
from model.taxonomy import Taxonomy
from model.text import CJK_IDEOGRAPHS, PreparedText, normalise, normalise_prepared, prepare
from model.tokenize import tokenize, tokenize_with_spans

# Longer texts are classified on their first MAX_CHARS characters (and flagged "truncated").
MAX_CHARS = 5000


# An explanation term gives where it occurs up to this many times (a page highlights those): a
# long repetitive text would otherwise make an explained batch answer hundreds of megabytes.
MAX_SPANS = 20

# NFKC turns one character into at most 18 (U+FDFA does).
_MAX_NFKC_GROWTH = 18


# The personal data the masking finds is shorter than this (an e-mail address has at most 64
# characters before its '@'; only one with a domain of over 130 characters would be longer).
_PII_REACH = 200


def clip(text: str) -> str:
    """The first MAX_CHARS characters of `text`, fewer if NFKC would make them longer than that
    (one character such as U+FDFA becomes 18, which would multiply the work per text), and fewer
    if the cut would split personal data: the cut goes before it, since what is left of a phone
    number or an ID number is none to the masking, and the masked text would end in it."""
    clipped = _clip_length(text)
    if len(clipped) == len(text):
        return clipped
    for match in prepare(text[: len(clipped) + _PII_REACH]).pii:
        if match.start < len(clipped) < match.end:
            return text[: match.start]
    return clipped


def _clip_length(text: str) -> str:
    """The first MAX_CHARS characters of `text`, fewer if NFKC would make them longer than that."""
    clipped = text[:MAX_CHARS]
    # Texts too short to outgrow the limit (almost all) skip the extra NFKC pass.
    if len(clipped) * _MAX_NFKC_GROWTH <= MAX_CHARS or len(unicodedata.normalize("NFKC", clipped)) <= MAX_CHARS:
        return clipped
    total = 0
    for index, char in enumerate(clipped):
        total += len(unicodedata.normalize("NFKC", char))
        if total > MAX_CHARS:
            return clipped[:index]
    return clipped


# Fewer Chinese characters than this: too short to judge.
MIN_CJK_CHARS = 4
_CJK = re.compile(f"[{CJK_IDEOGRAPHS}]")
_LATIN_WORD = re.compile(r"[A-Za-z]{2,}")


def text_issues(normalised: str, truncated: bool = False) -> tuple[str, ...]:
    """Why a normalised text cannot be judged: empty, no_chinese, too_short; plus truncated."""
    issues: list[str] = []
    # Counting stops at MIN_CJK_CHARS: only whether there are that many matters.
    cjk = sum(1 for _ in islice(_CJK.finditer(normalised), MIN_CJK_CHARS))
    if not normalised.strip():
        issues.append("empty")
    elif cjk == 0:
        issues.append("no_chinese")
    elif cjk < MIN_CJK_CHARS:
        issues.append("too_short")
    if truncated:
        issues.append("truncated")
    return tuple(issues)


def judgeable(issues: Sequence[str]) -> bool:
    """Whether a text with these `text_issues` is one the model judges (a truncated text still is);
    one it cannot judge is classified as the empty text would be."""
    return not [issue for issue in issues if issue != "truncated"]


class TriageModel:
    """A fitted classifier with its taxonomy and demand rules; immutable once built."""

    def __init__(self, taxonomy: Taxonomy, classifier: ComplaintClassifier, version: str = "") -> None:
        self.taxonomy = taxonomy
        self.classifier = classifier
        self.version = version
        self.demands = DemandExtractor(taxonomy)
        # Subtype → department membership, to sum subtype probabilities per department.
        self._department_index = {code: j for j, code in enumerate(taxonomy.departments)}
        subtypes = classifier.classes_["subtype"]
        self._department_matrix = np.zeros((len(subtypes), len(self._department_index)))
        for i, code in enumerate(subtypes):
            self._department_matrix[i, self._department_index[taxonomy.department_of(code)]] = 1.0

    def predict(self, text: str, explain: bool = True, top_terms: int = 5) -> Prediction:
        """Classify one complaint, with the terms that drove each head when `explain`."""
        return self.predict_many([text], explain=explain, top_terms=top_terms)[0]

    def predict_many(self, texts: Sequence[str], explain: bool = False, top_terms: int = 5) -> list[Prediction]:
        """Classify complaints in one vectorised pass; raises InputTextError for a non-string."""
        for index, text in enumerate(texts):
            if not isinstance(text, str):
                raise InputTextError(f"text #{index}: expected a string, got {type(text).__name__}")
        if not texts:
            return []
        clipped = [clip(text) for text in texts]
        checked = [normalise_prepared(text) for text in clipped]  # each with its prepare() when it took one
        normalised = [norm for norm, _ in checked]
        issues = [
            text_issues(norm, truncated=len(text) < len(original))
            for norm, text, original in zip(normalised, clipped, texts)
        ]
        judged = [judgeable(row) for row in issues]
        # A text the model cannot judge is classified as the empty text: what the model says with
        # no evidence, rather than a confident guess from one word or a few stray letters.
        inputs = self.classifier.inputs([norm if ok else "" for norm, ok in zip(normalised, judged)])
        heads = self.classifier.heads(inputs)
        decoded = self.classifier.decode(heads)
        taxonomy = self.taxonomy
        subtype_classes = heads["subtype"].classes
        tier_classes = heads["tier"].classes
        # The suggested subtype (the best one inside the chosen category) comes first, then the two
        # most probable others, so the list never contradicts the suggestion.
        ranked = np.argsort(-heads["subtype"].proba, axis=1)[:, :3].tolist()
        chosen = [subtype_classes.index(labels[1]) for labels in decoded]
        top_rows = [[best] + [j for j in row if j != best][:2] for best, row in zip(chosen, ranked)]
        # Rounded once per batch as plain lists: indexing NumPy arrays per value is slow.
        probability = {head: np.round(heads[head].proba, 4).tolist() for head in HEADS}
        department_rows = np.round(heads["subtype"].proba @ self._department_matrix, 4).tolist()
        column = {head: {code: j for j, code in enumerate(heads[head].classes)} for head in HEADS}
        cues = dict(self.classifier.cue_patterns_)
        predictions = []
        for i, (text, norm, labels) in enumerate(zip(clipped, normalised, decoded)):
            category_code, subtype_code, tier_code = labels
            prepared = checked[i][1] or (prepare(text) if explain else None)
            explanation: dict[str, tuple[ExplanationTerm, ...]] = {}
            if explain and not judged[i]:
                explanation = {head: () for head in HEADS}
            elif explain and prepared is not None:
                # prepared.text is the normalised text the inputs were computed from.
                contributions = self.classifier.contributions(inputs, i, labels, top_terms)
                tokens = tokenize_with_spans(prepared.text)
                starts: dict[str, list[int]] = {}  # token → where it occurs in `tokens`
                for position, (token, _, _) in enumerate(tokens):
                    starts.setdefault(token, []).append(position)
                explanation = {
                    head: tuple(_locate(item, prepared, tokens, starts, cues) for item in items)
                    for head, items in contributions.items()
                }
            department_code = taxonomy.department_of(subtype_code)
            # judged like the empty text, as the labels are: a lone 退款 is not a complaint's demand yet
            demand = self.demands.extract(norm if judged[i] else "").code
            predictions.append(
                Prediction(
                    category=LabelScore(
                        category_code,
                        taxonomy.categories[category_code].name,
                        probability["category"][i][column["category"][category_code]],
                    ),
                    subtype=LabelScore(
                        subtype_code,
                        taxonomy.subtypes[subtype_code].name,
                        probability["subtype"][i][column["subtype"][subtype_code]],
                    ),
                    tier=LabelScore(
                        tier_code, taxonomy.tiers[tier_code].name, probability["tier"][i][column["tier"][tier_code]]
                    ),
                    top_subtypes=tuple(
                        LabelScore(
                            subtype_classes[j], taxonomy.subtypes[subtype_classes[j]].name, probability["subtype"][i][j]
                        )
                        for j in top_rows[i]
                    ),
                    department=LabelScore(
                        department_code,
                        taxonomy.departments[department_code],
                        department_rows[i][self._department_index[department_code]],
                    ),
                    demand=LabelScore(demand, taxonomy.demands[demand].name, 1.0),
                    explanation=explanation,
                    masked_text=prepared.masked_original() if prepared is not None else text,
                    normalised_text=norm,
                    judgeable=judged[i],
                    tier_probabilities=dict(zip(tier_classes, probability["tier"][i])),
                    issues=issues[i],
                    model_version=self.version,
                )
            )
        return predictions

    def out_of_vocabulary_rate(self, texts: Sequence[str]) -> float:
        """Share of the texts' word tokens the model has no feature for (a drift signal)."""
        vocabulary = self.classifier.features_.word_vocabulary_
        tokens = [token for text in texts for token in tokenize(normalise(clip(text)))]
        return sum(token not in vocabulary for token in tokens) / len(tokens) if tokens else 0.0

    def describe(self) -> dict[str, Any]:
        """Parameters of the classifier, for metadata and the API."""
        return {key: _jsonable(value) for key, value in self.classifier.get_params().items()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value


def _locate(
    contribution: Contribution,
    prepared: PreparedText,
    tokens: list[tuple[str, int, int]],
    starts: dict[str, list[int]],
    cue_patterns: dict[str, re.Pattern[str]],
) -> ExplanationTerm:
    """Find where a contributing term occurs in the prepared text, as original/masked spans (its
    first `MAX_SPANS` occurrences that do not run across masked personal data). `tokens` are the
    text's (`tokenize_with_spans`), `starts` the positions of each token among them."""
    spans: list[tuple[int, int]] = []
    if contribution.kind in ("subtype", "length"):
        pass  # the tier head's subtype probabilities and length bin: nowhere in particular in the text
    elif contribution.kind == "cue":
        spans = [match.span() for match in cue_patterns[contribution.term].finditer(prepared.text)]
    elif contribution.kind == "word":
        words = contribution.term.split(" ")
        for i in starts.get(words[0], ()):
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
        # Personal data leaves no trace in the text the model reads, so a term may run across
        # where it was ("快递" + phone number + "员"): that occurrence is not in the text as shown.
        if any(match.start < original_end and original_start < match.end for match in prepared.pii):
            continue
        masked_start, masked_end = prepared.masked_span(original_start, original_end)
        located.append(TermSpan(original_start, original_end, masked_start, max(masked_start, masked_end)))
        if len(located) == MAX_SPANS:
            break
    return ExplanationTerm(contribution.term, contribution.kind, round(contribution.weight, 4), tuple(located))
