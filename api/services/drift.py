"""Drift of the complaints against the training data of the model in service.

Two signals over the tickets received in a range (business time zone, both days inclusive):

1. **Class distribution** of the subtype and the tier heads. A ticket's class is the agent's final
   label when it was reviewed, else the model's suggestion. With P the period's class shares and
   Q the shares of the model's training labels (`training_data.label_counts` in its metadata),
   over the union of their classes, M = (P + Q) / 2 and

       JSD(P ‖ Q) = ½ Σ P(c) log2(P(c) / M(c)) + ½ Σ Q(c) log2(Q(c) / M(c))     (terms with 0 weight are 0)
       distance   = √JSD                                                           (0 = same, 1 = disjoint)

   A head has drifted when its distance exceeds `drift_js_threshold` (default 0.2).
2. **Vocabulary**: the out-of-vocabulary rate of the period's (masked) texts — the share of
   their word tokens the model has no feature for (`TriageModel.out_of_vocabulary_rate`, on at
   most `drift_max_texts` evenly sampled texts) — against the rate measured on the held-out rows
   at training (`evaluation.out_of_vocabulary_rate`). It has drifted when it exceeds that
   reference by more than `drift_oov_margin` (default 0.05).

`retrain_recommended` is true when any signal has drifted and the range holds at least
`drift_min_tickets` tickets (fewer make the shares too noisy to act on). A signal whose
reference the model's metadata lacks is reported as null.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api.services.model_holder import LoadedModel
from api.services.stats import day_bounds
from api.tables import Ticket

DRIFT_HEADS = ("subtype", "tier")


@dataclass(frozen=True)
class DriftLimits:
    """When drift calls for retraining."""

    js_threshold: float = 0.2
    oov_margin: float = 0.05
    min_tickets: int = 30
    max_texts: int = 5000


def shares(counts: Mapping[str, float]) -> dict[str, float]:
    """Counts → shares (empty when the counts sum to 0)."""
    total = sum(counts.values())
    return {code: value / total for code, value in counts.items()} if total else {}


def js_distance(p: Mapping[str, float], q: Mapping[str, float]) -> float:
    """Jensen–Shannon distance (base 2) of two distributions given as class → share."""
    classes = sorted(set(p) | set(q))
    m = {c: (p.get(c, 0.0) + q.get(c, 0.0)) / 2 for c in classes}

    def kl(a: Mapping[str, float]) -> float:
        return sum(a[c] * math.log2(a[c] / m[c]) for c in classes if a.get(c, 0.0) > 0)

    divergence = max(0.0, (kl(p) + kl(q)) / 2)
    return math.sqrt(min(1.0, divergence))


def evenly(items: Sequence[str], most: int) -> list[str]:
    """At most `most` items, evenly spread over the sequence."""
    if len(items) <= most:
        return list(items)
    step = len(items) / most
    return [items[int(i * step)] for i in range(most)]


def _head(current: Counter[str], training: Mapping[str, Any] | None, threshold: float) -> dict[str, Any]:
    period = shares(current)
    if not isinstance(training, Mapping) or not training:
        return {"js_distance": None, "period": period, "training": None, "drifted": None}
    reference = shares({str(code): float(count) for code, count in training.items()})
    distance = js_distance(period, reference) if period else None
    drifted = distance is not None and distance > threshold
    return {"js_distance": distance, "period": period, "training": reference, "drifted": drifted}


def drift_report(
    session: Session, *, first: date, last: date, loaded: LoadedModel, limits: DriftLimits, zone: tzinfo
) -> dict[str, Any]:
    """The drift signals of the tickets received from `first` to `last`, against `loaded`'s training data."""
    start, end = day_bounds(first, last, zone)
    statement = (
        select(Ticket.text, Ticket.suggested_subtype, Ticket.suggested_tier, Ticket.final_subtype, Ticket.final_tier)
        .where(Ticket.received_at >= start, Ticket.received_at < end)
        .order_by(Ticket.received_at, Ticket.id)
    )
    rows = list(session.execute(statement))
    metadata = loaded.metadata
    label_counts = (metadata.get("training_data") or {}).get("label_counts") or {}
    heads = {}
    for head in DRIFT_HEADS:
        counts = Counter((getattr(row, f"final_{head}") or getattr(row, f"suggested_{head}")) for row in rows)
        heads[head] = _head(counts, label_counts.get(head), limits.js_threshold)
    recorded = (metadata.get("evaluation") or {}).get("out_of_vocabulary_rate")
    reference = float(recorded) if isinstance(recorded, int | float) else None
    texts = evenly([row.text for row in rows], limits.max_texts)
    rate = loaded.model.out_of_vocabulary_rate(texts) if texts else None
    oov_drifted = None if reference is None or rate is None else rate - reference > limits.oov_margin
    enough = len(rows) >= limits.min_tickets
    reasons = [
        f"{head}: Jensen-Shannon distance {heads[head]['js_distance']:.3f} > {limits.js_threshold}"
        for head in DRIFT_HEADS
        if heads[head]["drifted"]
    ]
    if oov_drifted and rate is not None and reference is not None:
        reasons.append(f"out-of-vocabulary rate {rate:.3f} > reference {reference:.3f} + {limits.oov_margin}")
    return {
        "from": first,
        "to": last,
        "tickets": len(rows),
        "model_version": loaded.version,
        "heads": heads,
        "out_of_vocabulary": {
            "rate": rate,
            "reference": reference,
            "margin": limits.oov_margin,
            "texts": len(texts),
            "drifted": oov_drifted,
        },
        "js_threshold": limits.js_threshold,
        "min_tickets": limits.min_tickets,
        "enough_tickets": enough,
        "retrain_recommended": enough and bool(reasons),
        "reasons": reasons,
    }
