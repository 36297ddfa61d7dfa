"""Confidence thresholds for auto-fill, derived from a target precision on held-out data.

For each head, the threshold is the lowest probability t such that the predictions with
probability ≥ t reach the target precision on the given rows; per class likewise, where the class
is predicted at least `min_support` times. A ticket is auto-filled when every head clears its
threshold (and the text is judgeable); the rest go to the review queue.

The thresholds travel with the model: they are written as `thresholds.json` into its version
folder, which the service reads when it loads (or hot-swaps to) that version.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from model.files import replaced_atomically
from model.prediction import Prediction
from training.data import LabeledRow
from training.evaluate import HEADS

THRESHOLDS_FILE = "thresholds.json"
NEVER = 1.01  # no probability reaches it: the class always goes to review


def lowest_threshold(confidence: Sequence[float], correct: Sequence[bool], precision: float) -> float:
    """Lowest t with precision(p ≥ t) ≥ `precision`; NEVER when no t reaches it."""
    order = np.argsort(-np.asarray(confidence, dtype=float), kind="stable")
    conf = np.asarray(confidence, dtype=float)[order]
    hits = np.cumsum(np.asarray(correct, dtype=float)[order])
    running = hits / np.arange(1, len(conf) + 1)
    best = NEVER
    for i in range(len(conf)):
        # A cut is only possible between distinct probabilities.
        if (i + 1 == len(conf) or conf[i + 1] < conf[i]) and running[i] >= precision:
            best = float(conf[i])
    return best


@dataclass(frozen=True)
class ThresholdSet:
    """Per-head default thresholds and per-class overrides."""

    precision: float
    heads: dict[str, float]
    per_class: dict[str, dict[str, float]]

    def threshold(self, head: str, code: str) -> float:
        """The threshold that applies to a predicted class of a head."""
        return self.per_class.get(head, {}).get(code, self.heads[head])

    def autofilled(self, prediction: Prediction) -> bool:
        """True when the prediction clears every head's threshold and the text is judgeable."""
        return prediction.judgeable and all(
            getattr(prediction, head).probability >= self.threshold(head, getattr(prediction, head).code)
            for head in HEADS
        )

    def to_dict(self) -> dict[str, Any]:
        return {"precision": self.precision, "heads": self.heads, "per_class": self.per_class}


def check_precision(precision: float) -> None:
    """ValueError unless 0 < precision ≤ 1 (written so that NaN is refused too)."""
    if not 0 < precision <= 1:
        raise ValueError(f"--precision must be in (0, 1], got {precision}")


def derive_thresholds(
    rows: Sequence[LabeledRow], predictions: Sequence[Prediction], precision: float, min_support: int = 20
) -> ThresholdSet:
    """Thresholds that make auto-filled predictions reach `precision` on these rows."""
    check_precision(precision)
    heads: dict[str, float] = {}
    per_class: dict[str, dict[str, float]] = {}
    for head in HEADS:
        predicted = [getattr(p, head).code for p in predictions]
        confidence = [getattr(p, head).probability for p in predictions]
        correct = [getattr(row, head) == code for row, code in zip(rows, predicted)]
        heads[head] = lowest_threshold(confidence, correct, precision)
        per_class[head] = {}
        for code in sorted(set(predicted)):
            index = [i for i, value in enumerate(predicted) if value == code]
            if len(index) >= min_support:
                per_class[head][code] = lowest_threshold(
                    [confidence[i] for i in index], [correct[i] for i in index], precision
                )
    return ThresholdSet(precision, heads, per_class)


def autofill_report(
    thresholds: ThresholdSet, rows: Sequence[LabeledRow], predictions: Sequence[Prediction]
) -> dict[str, Any]:
    """Share of rows auto-filled and the precision per head among them."""
    chosen = [i for i, p in enumerate(predictions) if thresholds.autofilled(p)]
    report: dict[str, Any] = {"n": len(rows), "autofilled": len(chosen), "share": len(chosen) / max(1, len(rows))}
    for head in HEADS:
        hits = sum(getattr(rows[i], head) == getattr(predictions[i], head).code for i in chosen)
        report[f"{head}_precision"] = hits / len(chosen) if chosen else None
    return report


def write_thresholds(folder: Path, thresholds: ThresholdSet, source: dict[str, Any]) -> Path:
    """Write `thresholds.json` into a model version folder (via a temporary file: the service,
    which reads it when it loads the version, never sees it half written)."""
    path = folder / THRESHOLDS_FILE
    payload = {**thresholds.to_dict(), "derived_from": source}
    with replaced_atomically(path) as stream:
        stream.write(json.dumps(payload, ensure_ascii=False, indent=2))
    return path
