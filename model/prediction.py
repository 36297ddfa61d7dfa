"""What the model returns for one text: labels with probabilities, demand, explanation, flags."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class LabelScore:
    """A predicted label: its code, Chinese name and probability."""

    code: str
    name: str
    probability: float


@dataclass(frozen=True)
class TermSpan:
    """Where a term occurs: [start, end) in the original text and in the masked text."""

    start: int
    end: int
    masked_start: int
    masked_end: int


@dataclass(frozen=True)
class ExplanationTerm:
    """A feature that weighed for the predicted class, its weight and where it occurs.

    `kind` is "word", "char", "cue" (a group of tier cue words, named by `term`), "subtype"
    (the tier head's use of the subtype probabilities; no span) or "length" (the tier head's
    text-length bin, such as "20-31" characters; no span).
    """

    term: str
    kind: str
    weight: float
    spans: tuple[TermSpan, ...]


@dataclass(frozen=True)
class Prediction:
    """The full prediction for one complaint.

    `judgeable` is false (and `issues` says why) when the text is not a Chinese complaint the
    model can judge: too short, no CJK characters, only emoji or punctuation. Such a text is
    classified as the empty text (what the model says with no evidence, the same for every
    such text), gets no explanation, and must go to review.
    """

    category: LabelScore
    subtype: LabelScore
    tier: LabelScore
    top_subtypes: tuple[LabelScore, ...]
    department: LabelScore
    demand: LabelScore
    explanation: dict[str, tuple[ExplanationTerm, ...]]
    masked_text: str
    normalised_text: str
    judgeable: bool
    tier_probabilities: dict[str, float] = field(default_factory=dict)
    issues: tuple[str, ...] = field(default_factory=tuple)
    model_version: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (what `triage predict` prints)."""
        return asdict(self)
