"""Confidence thresholds: when a prediction must go to an agent's review.

A prediction needs review when the text cannot be judged, or when the probability of any head
is below that head's threshold. `per_class` is the hook for per-class thresholds (a class with
its own threshold uses it instead of its head's).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from model.prediction import LabelScore, Prediction

HEADS = ("category", "subtype", "tier")


@dataclass(frozen=True)
class Thresholds:
    """Minimum probability per head, optionally per class (`per_class[head][code]`)."""

    category: float = 0.6
    subtype: float = 0.5
    tier: float = 0.6
    per_class: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def threshold(self, head: str, code: str) -> float:
        """The threshold that applies to class `code` of `head`."""
        specific = self.per_class.get(head, {})
        if code in specific:
            return specific[code]
        value: float = getattr(self, head)
        return value

    def review_reasons(self, prediction: Prediction) -> list[str]:
        """Why a prediction needs review (empty when it can be auto-filled)."""
        reasons = [f"not_judgeable:{issue}" for issue in prediction.issues if issue != "truncated"]
        if not prediction.judgeable and not reasons:
            reasons.append("not_judgeable")
        for head in HEADS:
            score: LabelScore = getattr(prediction, head)
            if score.probability < self.threshold(head, score.code):
                reasons.append(f"low_confidence:{head}")
        return reasons

    def needs_review(self, prediction: Prediction) -> bool:
        """True when the prediction is not judgeable or any head is below its threshold."""
        return bool(self.review_reasons(prediction))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view for the model endpoint."""
        return {
            "category": self.category,
            "subtype": self.subtype,
            "tier": self.tier,
            "per_class": {head: dict(values) for head, values in self.per_class.items()},
        }
