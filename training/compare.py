"""Compare a candidate model with a baseline on the same rows, and the promotion gate."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from model.predictor import TriageModel
from training.data import LabeledRow
from training.evaluate import HEADS, bootstrap_delta, evaluate_predictions, interval, predict_rows

DEFAULT_MARGIN = 0.01


@dataclass(frozen=True)
class Disagreement:
    """A row the two models label differently on some head."""

    row: LabeledRow
    candidate: tuple[str, str, str]
    baseline: tuple[str, str, str]


_NOISE = 1e-9


@dataclass
class Comparison:
    """Both models' metrics on the same rows, their per-head macro-F1 deltas and the verdict."""

    candidate_version: str
    baseline_version: str
    margin: float
    candidate: dict[str, Any]
    baseline: dict[str, Any]
    disagreements: list[Disagreement] = field(default_factory=list)
    # Per head, the 95 % interval of the macro-F1 delta over the same resamples of the rows for
    # both models (a paired bootstrap): a delta whose interval holds 0 may be the rows' noise.
    delta_intervals: dict[str, list[float]] = field(default_factory=dict)
    # The `taxonomy_sha256` of each model ("candidate", "baseline"), and what the figures need said
    # beside them (the two were trained with different taxonomies).
    taxonomy_sha256: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def delta(self, head: str) -> float:
        """Candidate macro-F1 minus baseline macro-F1 on one head."""
        return float(self.candidate[head]["macro_f1"] - self.baseline[head]["macro_f1"])

    @property
    def worse_heads(self) -> list[str]:
        """Heads on which the candidate loses more than the margin (a loss of exactly the margin, up
        to floating-point noise such as 0.49 − 0.50 = −0.010000000000000009, is not more)."""
        return [head for head in HEADS if self.delta(head) < -self.margin - _NOISE]

    @property
    def verdict(self) -> str:
        """`worse`, `better` or `equivalent` (within the margin on every head)."""
        if self.worse_heads:
            return "worse"
        if any(self.delta(head) > self.margin + _NOISE for head in HEADS):
            return "better"
        return "equivalent"

    def explain(self) -> str:
        """One sentence a person can act on."""
        figures = ", ".join(f"{head} {self.delta(head):+.3f}" for head in HEADS)
        if self.verdict == "worse":
            return (
                f"candidate {self.candidate_version} is worse than {self.baseline_version} by more than "
                f"{self.margin:.3f} macro-F1 on {', '.join(self.worse_heads)} ({figures}, n={self.candidate['n']})"
            )
        return f"candidate {self.candidate_version} is {self.verdict} ({figures}, n={self.candidate['n']})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (per-head and per-class F1 side by side)."""
        return {
            "candidate": self.candidate_version,
            "baseline": self.baseline_version,
            "n": self.candidate["n"],
            "margin": self.margin,
            "verdict": self.verdict,
            "heads": {
                head: {
                    "candidate": {k: self.candidate[head][k] for k in ("accuracy", "macro_f1")},
                    "baseline": {k: self.baseline[head][k] for k in ("accuracy", "macro_f1")},
                    "delta_macro_f1": round(self.delta(head), 4),
                    "delta_macro_f1_interval": self.delta_intervals.get(head),
                    "per_class_f1": {
                        label: {
                            "candidate": self.candidate[head]["per_class"].get(label, {}).get("f1", 0.0),
                            "baseline": self.baseline[head]["per_class"].get(label, {}).get("f1", 0.0),
                        }
                        for label in sorted(
                            set(self.candidate[head]["per_class"]) | set(self.baseline[head]["per_class"])
                        )
                    },
                }
                for head in HEADS
            },
            "disagreements": len(self.disagreements),
            "taxonomy_sha256": self.taxonomy_sha256,
            "warnings": self.warnings,
        }


def taxonomy_difference(candidate: TriageModel, baseline: TriageModel) -> str | None:
    """A warning when the two models were trained with different taxonomies (their hashes differ),
    naming the category, subtype and tier codes only one of them has; None when they are the same."""
    ours, theirs = candidate.taxonomy, baseline.taxonomy
    if ours.sha256 == theirs.sha256:
        return None
    differences = []
    for kind, mine, other in (
        ("categories", ours.categories, theirs.categories),
        ("subtypes", ours.subtypes, theirs.subtypes),
        ("tiers", ours.tiers, theirs.tiers),
    ):
        for owner, only in ((candidate.version, set(mine) - set(other)), (baseline.version, set(other) - set(mine))):
            if only:
                differences.append(f"{kind} only in {owner}: {', '.join(sorted(only))}")
    detail = (
        "; ".join(differences)
        if differences
        else "the same category, subtype and tier codes, other names, departments, deadlines, demands or tier cue words"
    )
    return (
        f"{candidate.version} and {baseline.version} were trained with different taxonomies (taxonomy_sha256 "
        f"{ours.sha256[:12]}… and {theirs.sha256[:12]}…): {detail}; the rows are checked against the taxonomy of "
        f"{candidate.version}, and a model never predicts a class its own taxonomy lacks (its F1 there is 0)"
    )


def compare_models(
    candidate: TriageModel, baseline: TriageModel, rows: Sequence[LabeledRow], margin: float = DEFAULT_MARGIN
) -> Comparison:
    """Score both models on the same labeled rows."""
    if not rows:
        raise ValueError("the comparison set has no rows")
    candidate_predictions = predict_rows(candidate, rows)
    baseline_predictions = predict_rows(baseline, rows)
    # Both macro averages over the same classes: those of the rows and those either model predicts.
    # Each model's own set would give a model an extra 0 for a class the rows lack that it alone
    # predicted once, and the gate could refuse a candidate that is as good on every class the
    # rows have.
    classes = {head: {getattr(p, head).code for p in (*candidate_predictions, *baseline_predictions)} for head in HEADS}
    comparison = Comparison(
        candidate.version,
        baseline.version,
        margin,
        evaluate_predictions(rows, candidate_predictions, classes),
        evaluate_predictions(rows, baseline_predictions, classes),
        taxonomy_sha256={"candidate": candidate.taxonomy.sha256, "baseline": baseline.taxonomy.sha256},
    )
    difference = taxonomy_difference(candidate, baseline)
    if difference is not None:
        comparison.warnings.append(difference)
    for head in HEADS:
        truth = [getattr(row, head) for row in rows]
        ours = [getattr(p, head).code for p in candidate_predictions]
        theirs = [getattr(p, head).code for p in baseline_predictions]
        labels = sorted(set(truth) | classes[head])  # both models' macro averages are over these
        comparison.delta_intervals[head] = interval(bootstrap_delta(truth, ours, theirs, labels))
    for row, c, b in zip(rows, candidate_predictions, baseline_predictions):
        c_labels = (c.category.code, c.subtype.code, c.tier.code)
        b_labels = (b.category.code, b.subtype.code, b.tier.code)
        if c_labels != b_labels:
            comparison.disagreements.append(Disagreement(row, c_labels, b_labels))
    return comparison
