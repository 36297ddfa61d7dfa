"""Smoke test on the team's real labeled data (skipped when ../shared/data is absent)."""

from __future__ import annotations

import pytest

from model.taxonomy import Taxonomy
from tests.conftest import shared_csv
from training.data import load_datasets
from training.evaluate import evaluate
from training.train import fit_model


@pytest.mark.slow
def test_train_on_the_shared_training_split_and_evaluate_on_dev(taxonomy: Taxonomy) -> None:
    train = load_datasets([shared_csv("complaints_train.csv")], taxonomy)
    dev = load_datasets([shared_csv("complaints_dev.csv")], taxonomy)
    assert not train.problems and not dev.problems, "the shared data validates cleanly"
    model = fit_model(train.rows, taxonomy, "smoke")
    metrics = evaluate(model, dev.rows)
    assert metrics["n"] == len(dev.rows)
    # Floors well below the benchmark's measured figures: this guards against a broken pipeline,
    # the accuracy claims live in bench/accuracy.py.
    assert metrics["category"]["macro_f1"] > 0.65
    assert metrics["subtype"]["macro_f1"] > 0.45
    assert metrics["tier"]["macro_f1"] > 0.6
    for head in ("category", "subtype", "tier"):
        assert metrics[head]["ece"] < 0.15
