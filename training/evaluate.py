"""Held-out evaluation: per-head accuracy, macro-F1, per-class figures, confusion, calibration."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from model.prediction import Prediction
from model.predictor import TriageModel
from training.data import LabeledRow

HEADS = ("category", "subtype", "tier")
BATCH = 512


@dataclass(frozen=True)
class ReliabilityBin:
    """Predictions whose confidence fell in [low, high): how many, their mean confidence, how many were right."""

    low: float
    high: float
    count: int
    confidence: float
    accuracy: float


def reliability_bins(confidence: ArrayLike, correct: ArrayLike, bins: int = 15) -> list[ReliabilityBin]:
    """The non-empty bins of `bins` equal-width confidence bins (a reliability diagram's data)."""
    conf = np.asarray(confidence, dtype=float)
    hit = np.asarray(correct, dtype=float)
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    return [
        ReliabilityBin(
            float(edges[b]), float(edges[b + 1]), int(mask.sum()), float(conf[mask].mean()), float(hit[mask].mean())
        )
        for b in range(bins)
        if (mask := index == b).any()
    ]


def expected_calibration_error(confidence: ArrayLike, correct: ArrayLike, bins: int = 15) -> float:
    """ECE of the top-label confidence over `bins` equal-width bins."""
    found = reliability_bins(confidence, correct, bins)
    total = sum(b.count for b in found)
    return float(sum(b.count / total * abs(b.confidence - b.accuracy) for b in found)) if total else 0.0


# Draws of the bootstrap behind each interval, in chunks (a chunk holds two or three arrays of
# BOOTSTRAP_CHUNK × rows int64: ~115 MiB at 100,000 rows), with a fixed seed: the same rows give
# the same intervals.
BOOTSTRAP_DRAWS = 1000
BOOTSTRAP_CHUNK = 50
BOOTSTRAP_SEED = 0


def bootstrap_figures(
    truth: Sequence[str],
    predicted: Sequence[str],
    labels: Sequence[str],
    kept: Iterable[str] = (),
    alongside: Sequence[str] | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Accuracy and macro-F1 on each of `BOOTSTRAP_DRAWS` resamples of the rows, as `head_metrics`
    would score that resample: its macro-F1 averages over the `labels` the resample has in truth or
    in `predicted`, those of `kept` (its `classes`) and, for a paired comparison, those that the
    other model's predictions `alongside` have on it (both averaged over the same classes, as
    `training.compare` does). The resamples depend only on the number of rows, so two models'
    predictions of the same rows are resampled alike (a paired bootstrap). Each resample's
    confusion counts come from one `bincount`."""
    index = {label: i for i, label in enumerate(labels)}
    k = len(labels)
    codes = np.asarray([index[t] * k + index[p] for t, p in zip(truth, predicted)], dtype=np.int64)
    other = None if alongside is None else np.asarray([index[p] for p in alongside], dtype=np.int64)
    always = np.isin(np.arange(k), [index[label] for label in kept])
    rng = np.random.default_rng(BOOTSTRAP_SEED)
    accuracy: list[NDArray[np.float64]] = []
    macro_f1: list[NDArray[np.float64]] = []
    for start in range(0, BOOTSTRAP_DRAWS, BOOTSTRAP_CHUNK):
        draws = min(BOOTSTRAP_CHUNK, BOOTSTRAP_DRAWS - start)
        rows = rng.integers(0, len(codes), (draws, len(codes)))
        sample = codes[rows]
        sample += np.arange(draws)[:, None] * k * k  # in place: one chunk-sized array less
        counts = np.bincount(sample.ravel(), minlength=draws * k * k).reshape(draws, k, k)
        hits = np.einsum("dii->di", counts)
        true_totals, predicted_totals = counts.sum(axis=2), counts.sum(axis=1)
        # F1 = 2·tp / (true + predicted); a counted class neither in the sample nor predicted scores
        # 0 (scikit-learn's zero_division=0, which `head_metrics` uses).
        denominator = true_totals + predicted_totals
        f1 = np.divide(2 * hits, denominator, out=np.zeros(hits.shape), where=denominator > 0)
        counted = (denominator > 0) | always
        if other is not None:
            drawn = (other[rows] + np.arange(draws)[:, None] * k).ravel()
            counted |= np.bincount(drawn, minlength=draws * k).reshape(draws, k) > 0
        macro_f1.append(f1.sum(axis=1) / counted.sum(axis=1))
        accuracy.append(hits.sum(axis=1) / len(codes))
    return np.concatenate(accuracy), np.concatenate(macro_f1)


def bootstrap_delta(
    truth: Sequence[str], ours: Sequence[str], theirs: Sequence[str], labels: Sequence[str]
) -> NDArray[np.float64]:
    """Macro-F1 of `ours` minus that of `theirs` on each resample of the rows (a paired bootstrap:
    the same resamples for both, each averaged over the classes of the resample's truth and of
    either model's predictions)."""
    return (
        bootstrap_figures(truth, ours, labels, alongside=theirs)[1]
        - bootstrap_figures(truth, theirs, labels, alongside=ours)[1]
    )


def bootstrap_intervals(
    truth: Sequence[str], predicted: Sequence[str], labels: Sequence[str], kept: Iterable[str] = ()
) -> dict[str, list[float]]:
    """95 % intervals of accuracy and macro-F1 (`bootstrap_figures`): how far another sample of
    as many rows from the same source could move them."""
    accuracy, macro_f1 = bootstrap_figures(truth, predicted, labels, kept)
    return {"accuracy_interval": interval(accuracy), "macro_f1_interval": interval(macro_f1)}


def interval(values: NDArray[np.float64]) -> list[float]:
    """The central 95 % of bootstrap figures, rounded as the metrics are."""
    return [round(float(np.percentile(values, 2.5)), 4), round(float(np.percentile(values, 97.5)), 4)]


def predict_rows(model: TriageModel, rows: Sequence[LabeledRow], progress: Any = None) -> list[Prediction]:
    """Predictions for rows, in batches; `progress(n)` is called after each batch."""
    predictions: list[Prediction] = []
    for start in range(0, len(rows), BATCH):
        batch = rows[start : start + BATCH]
        predictions.extend(model.predict_many([row.text for row in batch]))
        if progress is not None:
            progress(len(batch))
    return predictions


def head_metrics(
    truth: Sequence[str],
    predicted: Sequence[str],
    confidence: Sequence[float],
    classes: Iterable[str] = (),
) -> dict[str, Any]:
    """Accuracy and macro-F1 with their 95 % bootstrap intervals, per-class precision/recall/F1/
    support, confusion matrix, ECE.

    The macro average is over the classes of `truth`, of `predicted` and `classes`: a class the
    rows do not have but that is predicted counts (its F1 is 0), and `classes` lets two models be
    averaged over the same set (see `training.compare`)."""
    kept = set(classes)  # counted in every resample of the bootstrap too
    labels = sorted(set(truth) | set(predicted) | kept)
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, labels=labels, zero_division=0)
    return {
        "accuracy": round(float(accuracy_score(truth, predicted)), 4),
        "macro_f1": round(float(f1_score(truth, predicted, labels=labels, average="macro", zero_division=0)), 4),
        **(bootstrap_intervals(truth, predicted, labels, kept) if truth else {}),
        "ece": round(expected_calibration_error(confidence, [t == p for t, p in zip(truth, predicted)]), 4),
        "per_class": {
            label: {
                "precision": round(float(p), 4),
                "recall": round(float(r), 4),
                "f1": round(float(f), 4),
                "support": int(s),
            }
            for label, p, r, f, s in zip(labels, precision, recall, f1, support)
        },
        "labels": labels,
        "confusion": _confusion(truth, predicted, labels),
    }


def _confusion(truth: Sequence[str], predicted: Sequence[str], labels: list[str]) -> list[list[int]]:
    with warnings.catch_warnings():
        # scikit-learn warns that one class makes a 1×1 matrix even when given `labels`, which is
        # what makes it the right shape (rows of a single class, all predicted as it).
        warnings.filterwarnings("ignore", message="A single label was found", category=UserWarning)
        matrix: list[list[int]] = confusion_matrix(truth, predicted, labels=labels).tolist()
    return matrix


def evaluate_predictions(
    rows: Sequence[LabeledRow],
    predictions: Sequence[Prediction],
    classes: Mapping[str, Iterable[str]] | None = None,
) -> dict[str, Any]:
    """Metrics of every head (and of the demand where the rows carry one); `classes` per head are
    averaged over besides those of the rows and the predictions (`head_metrics`)."""
    result: dict[str, Any] = {"n": len(rows)}
    for head in HEADS:
        result[head] = head_metrics(
            [getattr(row, head) for row in rows],
            [getattr(p, head).code for p in predictions],
            [getattr(p, head).probability for p in predictions],
            (classes or {}).get(head, ()),
        )
    with_demand = [(row.demand, p.demand.code) for row, p in zip(rows, predictions) if row.demand]
    if with_demand:
        truth, predicted = zip(*with_demand)
        demand = head_metrics(list(truth), list(predicted), [1.0] * len(truth))
        demand.pop("ece")
        result["demand"] = demand
    result["judgeable_share"] = round(sum(p.judgeable for p in predictions) / max(1, len(predictions)), 4)
    return result


def evaluate(model: TriageModel, rows: Sequence[LabeledRow], progress: Any = None) -> dict[str, Any]:
    """Predict `rows` and compute their metrics."""
    return evaluate_predictions(rows, predict_rows(model, rows, progress))


# Held-out figures resting on fewer rows than these say little: one row more or less moves a
# macro-F1 on 20 rows by several points, and a class's F1 on 1 to 4 rows (which the macro-F1
# averages with the others) by 0.2 to 1. The real dev split (516 rows) has 6 or more of each class.
FEW_HELD_OUT_ROWS = 30
FEW_CLASS_ROWS = 5
_PLURALS = {"category": "categories", "subtype": "subtypes", "tier": "tiers"}


def few_rows_warning(metrics: Mapping[str, Any]) -> str | None:
    """A warning when held-out figures (`evaluate_predictions`) rest on fewer than
    `FEW_HELD_OUT_ROWS` rows or on fewer than `FEW_CLASS_ROWS` rows of some class of a head, with
    the heads' macro-F1 and its 95 % interval (the bootstrap's); None when they rest on enough."""
    rows = metrics["n"]
    thin = []
    for head in HEADS:
        supports = [figures["support"] for figures in metrics[head]["per_class"].values()]
        few = sum(support < FEW_CLASS_ROWS for support in supports)
        if few:
            thin.append(f"{few} of {len(supports)} {_PLURALS[head]}")
    if rows >= FEW_HELD_OUT_ROWS and not thin:
        return None
    rest_on = f"{rows} rows" + (f" (fewer than {FEW_HELD_OUT_ROWS})" if rows < FEW_HELD_OUT_ROWS else "")
    if thin:
        classes = f"{', '.join(thin[:-1])} and {thin[-1]}" if len(thin) > 1 else thin[0]
        rest_on += f", and on fewer than {FEW_CLASS_ROWS} rows each for {classes}"
    spans = ", ".join(f"{head} {with_interval(metrics[head], 'macro_f1')}" for head in HEADS)
    return (
        f"the held-out figures rest on {rest_on}: one row more or less moves them, so they say little "
        f"(macro-F1 with its 95 % interval: {spans}); figures to trust need at least {FEW_HELD_OUT_ROWS} held-out "
        f"rows and {FEW_CLASS_ROWS} of every class"
    )


SUMMARY_KEYS = ("accuracy", "accuracy_interval", "macro_f1", "macro_f1_interval", "ece")


def summary(metrics: dict[str, Any]) -> dict[str, Any]:
    """The short form printed by `triage evaluate --json`: n, and per head accuracy, macro-F1
    (each with its 95 % interval) and ECE."""
    short: dict[str, Any] = {"n": metrics["n"]}
    for head in (*HEADS, "demand"):
        if head in metrics:
            short[head] = {key: metrics[head][key] for key in SUMMARY_KEYS if key in metrics[head]}
    return short


def with_interval(figures: Mapping[str, Any], key: str) -> str:
    """A figure of `head_metrics` to three decimals, with its 95 % interval when it has one
    (versions saved before the intervals have none): "0.812 (0.781–0.842)"."""
    interval = figures.get(f"{key}_interval")
    text = f"{figures[key]:.3f}"
    return f"{text} ({interval[0]:.3f}–{interval[1]:.3f})" if interval else text
