"""Confidence thresholds: when a prediction must go to an agent's review.

A prediction needs review when the text cannot be judged, or when the probability of any head
is below that head's threshold. `per_class` holds per-class thresholds (a class with its own
threshold uses it instead of its head's).

Where they come from: a model version folder may hold `thresholds.json` (written by
`triage thresholds --precision P`, format `{"precision", "heads": {head: t}, "per_class": {head:
{code: t}}}`); the service then uses those with that version, and swaps them with the model.
Without the file, the settings' defaults (`TRIAGE_THRESHOLD_*`) apply.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model.errors import ArtifactError
from model.prediction import LabelScore, Prediction
from training.thresholds import NEVER, THRESHOLDS_FILE

HEADS = ("category", "subtype", "tier")


@dataclass(frozen=True)
class Thresholds:
    """Minimum probability per head, optionally per class (`per_class[head][code]`)."""

    category: float = 0.6
    subtype: float = 0.5
    tier: float = 0.6
    per_class: Mapping[str, Mapping[str, float]] = field(default_factory=dict)
    source: str = "settings"
    precision: float | None = None

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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready view for the model endpoint."""
        return {
            "category": self.category,
            "subtype": self.subtype,
            "tier": self.tier,
            "per_class": {head: dict(values) for head, values in self.per_class.items()},
            "source": self.source,
            "precision": self.precision,
        }


def _probability(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ArtifactError(f"{where}: expected a number, got {value!r}")
    if not 0 <= value <= NEVER:
        raise ArtifactError(f"{where}: {value} is outside 0..{NEVER}")
    return float(value)


def load_version_thresholds(folder: Path) -> Thresholds | None:
    """The thresholds stored with a model version, or None when it has none.

    Raises ArtifactError naming the file and the entry when the file is malformed, so a
    version with broken thresholds is refused like a broken model (the old one keeps serving).
    """
    path = folder / THRESHOLDS_FILE
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ArtifactError(f"{path}: cannot be read as JSON ({error})") from None
    heads = raw.get("heads") if isinstance(raw, dict) else None
    if not isinstance(heads, dict) or any(head not in heads for head in HEADS):
        raise ArtifactError(f"{path}: 'heads' must give a threshold for each of {', '.join(HEADS)}")
    per_class_raw = raw.get("per_class") or {}
    if not isinstance(per_class_raw, dict) or not all(isinstance(v, dict) for v in per_class_raw.values()):
        raise ArtifactError(f"{path}: 'per_class' must map heads to {{class code: threshold}}")
    per_class = {
        str(head): {str(code): _probability(t, f"{path}, per_class.{head}.{code}") for code, t in classes.items()}
        for head, classes in per_class_raw.items()
        if head in HEADS
    }
    precision = raw.get("precision")
    return Thresholds(
        category=_probability(heads["category"], f"{path}, heads.category"),
        subtype=_probability(heads["subtype"], f"{path}, heads.subtype"),
        tier=_probability(heads["tier"], f"{path}, heads.tier"),
        per_class=per_class,
        source=THRESHOLDS_FILE,
        precision=_probability(precision, f"{path}, precision") if precision is not None else None,
    )
