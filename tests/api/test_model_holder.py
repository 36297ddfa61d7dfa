"""The model in service: loaded at start, swapped atomically when the registry's CURRENT changes."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from api.deps import Services
from api.services.model_holder import ModelHolder
from model.errors import ArtifactError
from training.registry import Registry

from .conftest import TestClient, headers


@pytest.fixture
def two_versions(tmp_path: Path, model_registry: Path) -> Registry:
    """A registry with the sample model as `v1` (current) and a copy as `v2`, plus a broken `v3`."""
    source = Registry(model_registry).current_path()
    assert source is not None
    root = tmp_path / "models"
    for name in ("v1", "v2", "v3"):
        shutil.copytree(source, root / name)
    payload = root / "v3" / "model.joblib"
    payload.write_bytes(payload.read_bytes()[:100])
    registry = Registry(root)
    registry.set_current("v1", action="promote")
    return registry


def test_the_holder_swaps_to_a_promoted_version_and_keeps_the_old_one_for_requests_in_flight(
    two_versions: Registry,
) -> None:
    holder = ModelHolder(two_versions, poll_seconds=0)
    in_flight = holder.start()
    assert in_flight.path.name == "v1"
    two_versions.set_current("v2", action="promote")
    assert holder.refresh() is True
    assert holder.get().path.name == "v2"
    assert in_flight.model.predict("快递三天没送到").subtype.code  # still usable after the swap
    assert holder.refresh() is False


def test_a_broken_version_is_logged_and_the_old_one_kept(
    two_versions: Registry, caplog: pytest.LogCaptureFixture
) -> None:
    holder = ModelHolder(two_versions, poll_seconds=0)
    holder.start()
    two_versions.set_current("v3", action="promote")
    with caplog.at_level(logging.ERROR, logger="api.model"):
        assert holder.refresh() is False
    assert holder.get().path.name == "v1"
    assert "v3 could not be loaded" in caplog.text and "corrupt payload" in caplog.text
    assert holder.refresh() is False  # not retried until CURRENT changes again
    two_versions.set_current("v2", action="promote")
    assert holder.refresh() is True and holder.get().path.name == "v2"


def test_the_pointer_is_read_at_most_every_poll_interval(two_versions: Registry) -> None:
    now = [100.0]
    holder = ModelHolder(two_versions, poll_seconds=2.0, monotonic=lambda: now[0])
    holder.start()
    two_versions.set_current("v2", action="promote")
    now[0] += 1.0
    assert holder.get().path.name == "v1"  # too early to look
    holder.wait()
    assert holder.get().path.name == "v1"
    now[0] += 1.5
    holder.get()  # due: starts a background check
    holder.wait()
    assert holder.get().path.name == "v2"


def test_no_current_version_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="no current model version"):
        ModelHolder(Registry(tmp_path / "empty")).start()


def test_the_service_shows_a_promoted_model_without_restart(
    make_client: Callable[..., TestClient], two_versions: Registry
) -> None:
    client = make_client(registry=two_versions.root, model_poll_seconds=0.000001)
    assert client.get("/v1/model", headers=headers("analyst")).json()["version"] == "test-sample"
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    assert services.models is not None
    assert services.models.get().path.name == "v1"
    two_versions.set_current("v2", action="promote")
    # A check started before the promotion may still be running (it read v1): the next one sees v2.
    for _ in range(2):
        services.models.get()
        services.models.wait()
    assert services.models.get().path.name == "v2"
    info = client.get("/v1/model", headers=headers("agent")).json()
    assert info["taxonomy"]["tiers"][0]["code"] == "P1"
    assert info["thresholds"] == {
        "category": 0.6,
        "subtype": 0.5,
        "tier": 0.6,
        "per_class": {},
        "source": "settings",
        "precision": None,
    }
    assert [rule["code"] for rule in info["escalation"]["rules"]][0] == "safety_health"
    assert client.post("/v1/classify", json={"text": "快递没送到"}, headers=headers("intake")).status_code == 200


def test_the_default_model_is_trained_when_the_registry_is_empty(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    client = make_client(registry=tmp_path / "fresh-registry", train_default_model=True)
    assert Registry(tmp_path / "fresh-registry").current_version() is not None
    assert client.get("/readyz").json()["status"] == "ready"
    # measured on a held-out fifth of the team corpus by a twin, then trained on all of it
    info = client.get("/v1/model", headers=headers("analyst")).json()
    evaluation, rows = info["evaluation"], info["training_data"]["rows_used"]
    assert evaluation["refit"] and evaluation["trained_rows"] + evaluation["rows"] == rows
    assert "sample_complaints.csv" in evaluation["split"] and info["metrics"]["tier"]["macro_f1"] > 0.5


def test_without_a_model_and_without_training_the_start_fails(
    make_client: Callable[..., TestClient], tmp_path: Path
) -> None:
    with pytest.raises(ArtifactError, match="no current model version"):
        make_client(registry=tmp_path / "nothing")
