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

    `tier` is the tier the ticket gets: the most urgent of the model's tier and the tiers of the
    escalation rules that fired (`routed_tier`); a rule raises a tier, never lowers it.
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

    @property
    def escalation_rule(self) -> str | None:
        """The first fired rule (in file order) whose tier the ticket got, if any: the rule that
        set the tier, or confirmed the model's. None when no rule fired, or when every rule that
        fired asked for a less urgent tier than the model's."""
        return next((firing.rule for firing in self.escalations if firing.tier == self.tier), None)


def top_tier_probability(model: TriageModel, prediction: Prediction) -> float:
    """P(most urgent tier of the taxonomy) from the model's tier head."""
    return prediction.tier_probabilities.get(next(iter(model.taxonomy.tiers)), 0.0)


def routed_tier(tiers: Sequence[str], model_tier: str, fired: Sequence[Firing]) -> str:
    """The most urgent of the model's tier and the fired rules' tiers (`tiers` lists the
    taxonomy's tiers, most urgent first; a rule's tier missing from it is ignored)."""
    candidates = [model_tier, *(firing.tier for firing in fired if firing.tier in tiers)]
    return min(candidates, key=lambda tier: tiers.index(tier) if tier in tiers else len(tiers))


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
        # A text the model cannot judge gets the empty text's subtype: no evidence to fire on.
        subtype = prediction.subtype.code if prediction.judgeable else None
        fired = tuple(policy.fire(norm, emotion.index, subtype))
        assessments.append(
            Assessment(
                prediction=prediction,
                top_tier_probability=round(probability, 4),
                emotion=emotion,
                escalations=fired,
                review_reasons=tuple(thresholds.review_reasons(prediction)),
                tier=routed_tier(list(model.taxonomy.tiers), prediction.tier.code, fired),
            )
        )
    return assessments
