"""Model versions in service: their own review thresholds, and hot swaps under load with zero failures."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import SecretStr

from api.deps import Services
from api.main import create_app
from api.services.model_holder import ModelHolder
from api.settings import Settings
from model.artifact import save_model
from model.predictor import TriageModel
from training.registry import Registry
from training.thresholds import NEVER, THRESHOLDS_FILE

from .conftest import KEY_SPEC, KEYS, TestClient, create_ticket, headers

LATE = "快递显示已发货五天了还没送到，物流信息一直不更新，要求尽快送达。"
RUDE = "客服态度非常差，说话很不耐烦，还直接挂我电话。"


def write_thresholds(folder: Path, payload: dict[str, Any]) -> None:
    """A `thresholds.json` as `triage thresholds` writes it."""
    (folder / THRESHOLDS_FILE).write_text(json.dumps(payload), encoding="utf-8")


@pytest.fixture
def versions(tmp_path: Path, sample_model: TriageModel) -> Registry:
    """The sample model saved as `v1` (current, no thresholds file) and as `v2` (its own thresholds)."""
    registry = Registry(tmp_path / "models")
    for version in ("v1", "v2"):
        save_model(TriageModel(sample_model.taxonomy, sample_model.classifier, version), registry.root / version)
    registry.set_current("v1", action="promote")
    return registry


def services_of(client: TestClient) -> Services:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    return services


def classify(client: TestClient, text: str) -> dict[str, Any]:
    response = client.post("/v1/classify", json={"text": text}, headers=headers("intake"))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_a_version_with_thresholds_json_brings_its_thresholds_and_takes_them_away(
    make_client: Callable[..., TestClient], versions: Registry, sample_model: TriageModel
) -> None:
    late_subtype = sample_model.predict(LATE).subtype.code
    assert sample_model.predict(RUDE).subtype.code != late_subtype
    write_thresholds(
        versions.root / "v2",
        {
            "precision": 0.9,
            "heads": {"category": 0.0, "subtype": 0.0, "tier": 0.0},
            "per_class": {"subtype": {late_subtype: NEVER}},
        },
    )
    # settings: every head at 0 (nothing to review) unless the version says otherwise
    client = make_client(registry=versions.root, threshold_category=0, threshold_subtype=0, threshold_tier=0)
    holder = services_of(client).models
    assert holder is not None
    assert classify(client, LATE)["needs_review"] is False
    assert client.get("/v1/model", headers=headers("analyst")).json()["thresholds"]["source"] == "settings"

    versions.set_current("v2", action="promote")
    assert holder.refresh() is True
    late, rude = classify(client, LATE), classify(client, RUDE)
    assert late["model_version"] == "v2"
    assert late["needs_review"] is True and late["review_reasons"] == ["low_confidence:subtype"]
    assert rude["needs_review"] is False  # the per-class threshold applies to its class only
    ticket = create_ticket(client, text=LATE)
    assert ticket["needs_review"] is True and ticket["review_reasons"] == ["low_confidence:subtype"]
    info = client.get("/v1/model", headers=headers("analyst")).json()["thresholds"]
    assert info["source"] == THRESHOLDS_FILE and info["precision"] == 0.9
    assert info["per_class"] == {"subtype": {late_subtype: NEVER}}

    versions.set_current("v1", action="rollback")
    assert holder.refresh() is True
    assert classify(client, LATE)["needs_review"] is False


def test_thresholds_written_beside_the_version_in_service_are_taken_up(
    make_client: Callable[..., TestClient], versions: Registry, sample_model: TriageModel
) -> None:
    late_subtype = sample_model.predict(LATE).subtype.code
    client = make_client(registry=versions.root, threshold_category=0, threshold_subtype=0, threshold_tier=0)
    holder = services_of(client).models
    assert holder is not None
    assert classify(client, LATE)["needs_review"] is False
    assert holder.refresh() is False  # nothing changed
    # `triage thresholds` on the version in service writes its file; no promotion, no restart
    heads = {"category": 0.0, "subtype": 0.0, "tier": 0.0}
    write_thresholds(versions.root / "v1", {"heads": heads, "per_class": {"subtype": {late_subtype: NEVER}}})
    assert holder.refresh() is True
    assert classify(client, LATE)["review_reasons"] == ["low_confidence:subtype"]
    assert client.get("/v1/model", headers=headers("analyst")).json()["thresholds"]["source"] == THRESHOLDS_FILE
    # a broken rewrite keeps the thresholds in service
    (versions.root / "v1" / THRESHOLDS_FILE).write_text("{not json", encoding="utf-8")
    assert holder.refresh() is False
    assert classify(client, LATE)["review_reasons"] == ["low_confidence:subtype"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "cannot be read as JSON"),
        ('{"heads": {"category": 0.5, "subtype": 0.5}}', "'heads' must give a threshold for each of"),
        ('{"heads": {"category": 0.5, "subtype": 0.5, "tier": 7}}', "heads.tier: 7 is outside"),
        ('{"heads": {"category": 0.5, "subtype": 0.5, "tier": 0.5}, "per_class": {"tier": {"P1": "x"}}}', "P1"),
    ],
)
def test_a_version_with_broken_thresholds_is_refused_and_the_old_one_keeps_serving(
    make_client: Callable[..., TestClient], versions: Registry, content: str, message: str
) -> None:
    (versions.root / "v2" / THRESHOLDS_FILE).write_text(content, encoding="utf-8")
    client = make_client(registry=versions.root)
    holder = services_of(client).models
    assert holder is not None
    versions.set_current("v2", action="promote")
    assert holder.refresh() is False
    assert holder.last_error is not None and message in holder.last_error and THRESHOLDS_FILE in holder.last_error
    assert classify(client, LATE)["model_version"] == "v1"


def test_a_request_in_flight_keeps_its_model_and_thresholds(versions: Registry) -> None:
    write_thresholds(versions.root / "v2", {"heads": {"category": 0.9, "subtype": 0.9, "tier": 0.9}})
    holder = ModelHolder(versions, poll_seconds=0)
    in_flight = holder.start()
    versions.set_current("v2", action="promote")
    assert holder.refresh() is True
    swapped = holder.get()
    assert (in_flight.version, in_flight.thresholds) == ("v1", None)  # the old pair, untouched
    assert swapped.version == "v2" and swapped.thresholds is not None and swapped.thresholds.tier == 0.9
    assert in_flight.model.predict(LATE).model_version == "v1"


# ------------------------------------------------------------------------------ under load
def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
def live_server(tmp_path: Path, versions: Registry) -> Iterator[str]:
    """The app served by uvicorn on a free port (the registry polled every 20 ms)."""
    settings = Settings(
        var_dir=tmp_path / "var",
        registry=versions.root,
        api_keys=SecretStr(KEY_SPEC),
        model_poll_seconds=0.02,
        train_default_model=False,
        threshold_category=0,
        threshold_subtype=0,
        threshold_tier=0,
    )
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base) as probe:
        for _ in range(500):
            try:
                if probe.get("/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            threading.Event().wait(0.02)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join()


def eventually(condition: Callable[[], bool], what: str) -> None:
    """Wait for a condition; a generous deadline turns a hang into a clear failure (not a timing check)."""
    for _ in range(6000):
        if condition():
            return
        threading.Event().wait(0.01)
    pytest.fail(f"gave up waiting for: {what}")


@dataclass
class Load:
    """Requests sent from client threads until stopped: every answer (or failure) is kept."""

    base: str
    stop: threading.Event = field(default_factory=threading.Event)
    answers: dict[int, list[tuple[int, str, bool]]] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    def run(self, worker: int) -> None:
        answers = self.answers.setdefault(worker, [])
        with httpx.Client(base_url=self.base, timeout=30) as client:
            while not self.stop.is_set():
                try:
                    if worker == 0:  # one thread creates tickets, the others classify
                        response = client.post(
                            "/v1/tickets",
                            json={"text": LATE, "channel": "online"},
                            headers={"X-API-Key": KEYS["intake"], "Idempotency-Key": uuid.uuid4().hex},
                        )
                        body = response.json()
                        version = body.get("suggestion", {}).get("model_version", "")
                    else:
                        response = client.post(
                            "/v1/classify", json={"text": RUDE}, headers={"X-API-Key": KEYS["intake"]}
                        )
                        body = response.json()
                        version = body.get("model_version", "")
                    answers.append((response.status_code, version, bool(body.get("needs_review"))))
                except httpx.HTTPError as error:
                    self.failures.append(repr(error))

    def wait_for(self, count: int, version: str) -> None:
        """Until every worker's latest `count` answers came from `version` (or a request failed)."""

        def settled(answers: list[tuple[int, str, bool]]) -> bool:
            latest = answers[-count:]
            return len(latest) == count and all(seen == version for _, seen, _ in latest)

        eventually(lambda: bool(self.failures) or all(settled(list(a)) for a in self.answers.values()), version)


def _model_version(base: str) -> str:
    version: str = httpx.get(f"{base}/v1/model", headers={"X-API-Key": KEYS["analyst"]}).json()["version"]
    return version


def test_promote_and_rollback_under_load_fail_no_request(live_server: str, versions: Registry) -> None:
    # v2 sends every prediction to review: an answer shows which model AND thresholds served it
    write_thresholds(versions.root / "v2", {"heads": {"category": NEVER, "subtype": NEVER, "tier": NEVER}})
    load = Load(live_server)
    workers = [threading.Thread(target=load.run, args=(worker,)) for worker in range(4)]
    for worker in workers:
        worker.start()
    try:
        eventually(lambda: len(load.answers) == len(workers), "every worker started")
        load.wait_for(3, "v1")
        assert _model_version(live_server) == "v1"
        versions.set_current("v2", action="promote")
        load.wait_for(3, "v2")
        assert _model_version(live_server) == "v2"
        versions.set_current("v1", action="rollback")
        eventually(lambda: bool(load.failures) or _model_version(live_server) == "v1", "rollback seen")
        load.wait_for(3, "v1")
    finally:
        load.stop.set()
        for worker in workers:
            worker.join()
    assert load.failures == []
    answers = [answer for per_worker in load.answers.values() for answer in per_worker]
    assert {status for status, _, _ in answers} == {200, 201}  # classified, and tickets created
    for _, version, needs_review in answers:
        assert needs_review is (version == "v2"), "a request saw one version's model with another's thresholds"
    for per_worker in load.answers.values():
        phases = [version for i, (_, version, _) in enumerate(per_worker) if i == 0 or per_worker[i - 1][1] != version]
        assert phases == ["v1", "v2", "v1"]  # each client saw the swap happen once each way, never back and forth
