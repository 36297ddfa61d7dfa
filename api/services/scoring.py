"""One complaint text → everything intake needs: prediction, emotion, escalation, review flag."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from api.services.escalation import Emotion, EscalationPolicy, Firing
from api.services.thresholds import Thresholds
from model.prediction import Prediction
from model.predictor import TriageModel


@dataclass(frozen=True)
class Assessment:
    """The model's prediction with the service's judgement on top of it.

    `tier` is the tier the ticket gets: the model's, or the tier of the first escalation rule
    that fired.
    """

    prediction: Prediction
    top_tier_probability: float
    emotion: Emotion
    escalations: tuple[Firing, ...]
    review_reasons: tuple[str, ...]
    tier: str

    @property
    def needs_review(self) -> bool:
        """True when an agent must check the suggestion."""
        return bool(self.review_reasons)


def top_tier_probability(model: TriageModel, prediction: Prediction) -> float:
    """P(most urgent tier of the taxonomy) from the model's tier head."""
    return prediction.tier_probabilities.get(next(iter(model.taxonomy.tiers)), 0.0)


def _routed_tier(model: TriageModel, fired: Sequence[Firing], model_tier: str) -> str:
    """The first fired rule's tier (if the model's taxonomy has it), else the model's tier."""
    for firing in fired:
        if firing.tier in model.taxonomy.tiers:
            return firing.tier
    return model_tier


def assess(
    model: TriageModel,
    texts: Sequence[str],
    *,
    policy: EscalationPolicy,
    thresholds: Thresholds,
    explain: bool,
) -> list[Assessment]:
    """Assess complaint texts in one vectorised pass."""
    predictions = model.predict_many(list(texts), explain=explain)
    assessments = []
    for prediction in predictions:
        norm = prediction.normalised_text
        probability = top_tier_probability(model, prediction)
        emotion = policy.emotion(norm, probability)
        fired = tuple(policy.fire(norm, emotion.index))
        assessments.append(
            Assessment(
                prediction=prediction,
                top_tier_probability=round(probability, 4),
                emotion=emotion,
                escalations=fired,
                review_reasons=tuple(thresholds.review_reasons(prediction)),
                tier=_routed_tier(model, fired, prediction.tier.code),
            )
        )
    return assessments
