"""Shared fixtures: the default taxonomy, the sample data, and one real model trained per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from model.predictor import TriageModel
from model.taxonomy import Taxonomy, load_taxonomy
from training.data import LabeledRow, load_datasets
from training.train import DEFAULT_SAMPLE, fit_model

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def taxonomy() -> Taxonomy:
    return load_taxonomy()


@pytest.fixture(scope="session")
def sample_rows(taxonomy: Taxonomy) -> list[LabeledRow]:
    dataset = load_datasets([DEFAULT_SAMPLE], taxonomy)
    assert not dataset.fatal, dataset.fatal
    return dataset.rows


@pytest.fixture(scope="session")
def sample_model(taxonomy: Taxonomy, sample_rows: list[LabeledRow]) -> TriageModel:
    """A real model trained on the project's own sample data, once per test session."""
    return fit_model(sample_rows, taxonomy, "test-sample")


@pytest.fixture
def fewer_bootstrap_draws(monkeypatch: pytest.MonkeyPatch) -> int:
    """230 bootstrap draws instead of 1,000 (the last chunk a short one), for tests that score
    every resample again with scikit-learn, one by one: the drawing code is the same."""
    from training import evaluate

    monkeypatch.setattr(evaluate, "BOOTSTRAP_DRAWS", 230)
    return 230


def shared_csv(name: str) -> Path:
    """A file of the shared labeled data, or skip the test saying why."""
    path = SHARED_DATA / name
    if not path.exists():
        pytest.skip(f"shared labeled data not found at {path} (it lives beside the project, not in it)")
    return path
