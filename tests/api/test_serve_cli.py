"""`triage serve` refuses to start with a one-line error (never a traceback) on bad set-up."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from model.artifact import FORMAT, METADATA, save_model
from model.predictor import TriageModel
from training.registry import Registry

runner = CliRunner()


@pytest.fixture
def registry(tmp_path: Path, sample_model: TriageModel, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A registry whose current version is the sample model; the database in tmp_path."""
    root = tmp_path / "models"
    save_model(sample_model, root / "v1")
    Registry(root).set_current("v1", action="promote", actor="tests")
    # serve sets TRIAGE_REGISTRY for the app it starts; monkeypatch restores it afterwards.
    monkeypatch.setenv("TRIAGE_REGISTRY", str(root))
    monkeypatch.setenv("TRIAGE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("TRIAGE_API_KEYS", "demo-intake-key:intake")
    return root


def serve(registry: Path) -> tuple[int, str]:
    # An impossible port: should the start-up checks ever let a bad set-up through, uvicorn fails
    # at once instead of serving (and the test fails rather than hangs).
    result = runner.invoke(app, ["serve", "--registry", str(registry), "--port", "70000"])
    return result.exit_code, result.output


def test_a_model_of_an_older_format_stops_serve_with_what_to_do(registry: Path) -> None:
    metadata_path = registry / "v1" / METADATA
    metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
    metadata["format"] = FORMAT - 1
    metadata_path.write_text(json.dumps(metadata), encoding="utf-8")
    code, output = serve(registry)
    assert code != 0
    assert "cannot start" in output and f"model format {FORMAT - 1}" in output and "triage train" in output
    assert "Traceback" not in output


def test_a_bad_api_key_stops_serve_naming_the_entry(registry: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAGE_API_KEYS", "demo-intake-key:intake,short:agent")
    code, output = serve(registry)
    assert code != 0
    assert "TRIAGE_API_KEYS, entry 2: the key is shorter than 8 characters" in output
    assert "Traceback" not in output


def test_an_empty_registry_stops_serve_when_the_default_model_is_turned_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before, serve trained the default model whatever TRIAGE_TRAIN_DEFAULT_MODEL said.
    monkeypatch.delenv("TRIAGE_REGISTRY", raising=False)
    monkeypatch.setenv("TRIAGE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("TRIAGE_API_KEYS", "demo-intake-key:intake")
    monkeypatch.setenv("TRIAGE_TRAIN_DEFAULT_MODEL", "false")
    result = runner.invoke(app, ["serve", "--port", "70000"])
    assert result.exit_code != 0
    assert f"{tmp_path / 'var' / 'models'}: no current model version" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "var" / "models").exists() or not any((tmp_path / "var" / "models").iterdir())
