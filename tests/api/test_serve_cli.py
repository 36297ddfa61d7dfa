"""`triage serve`, and uvicorn calling the app factory itself, refuse to start with a one-line
error (never a traceback) on bad set-up."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from api.cli import app
from model.artifact import FORMAT, METADATA, save_model
from model.predictor import TriageModel
from tests.conftest import ROOT
from training.registry import Registry
from training.train import TEAM_CORPUS

runner = CliRunner()


@pytest.fixture(autouse=True)
def logging_as_before() -> Iterator[None]:
    """`triage serve` run in this process configures logging as a server process does (the `api`
    logger to uvicorn's handler, not propagating): put it back, or later tests' log capture is empty."""
    loggers = [logging.getLogger(name) for name in ("", "api", "uvicorn", "uvicorn.error", "uvicorn.access")]
    saved = [(logger.handlers[:], logger.propagate, logger.level, logger.disabled) for logger in loggers]
    yield
    for logger, (handlers, propagate, level, disabled) in zip(loggers, saved):
        logger.handlers, logger.propagate, logger.disabled = handlers, propagate, disabled
        logger.setLevel(level)


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


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another socket listens on: should the start-up checks ever let a bad set-up
    through, uvicorn fails at once instead of serving (and the test fails rather than hangs)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def serve(registry: Path | None, port: int) -> tuple[int, str]:
    where = ["--registry", str(registry)] if registry else []
    result = runner.invoke(app, ["serve", *where, "--port", str(port)])
    return result.exit_code, result.output


def test_a_model_of_an_older_format_stops_serve_with_what_to_do(registry: Path, taken_port: int) -> None:
    metadata_path = registry / "v1" / METADATA
    metadata = json.loads(metadata_path.read_text(encoding="utf-8"))
    metadata["format"] = FORMAT - 1
    metadata_path.write_text(json.dumps(metadata), encoding="utf-8")
    code, output = serve(registry, taken_port)
    assert code != 0
    assert "cannot start" in output and f"model format {FORMAT - 1}" in output and "triage train" in output
    assert output.count("cannot start") == 1, output
    assert "Traceback" not in output


def test_a_notify_url_that_is_not_http_stops_serve_in_one_line(
    registry: Path, taken_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIAGE_NOTIFY_URL", "ftp://hooks.example.com/x")
    code, output = serve(registry, taken_port)
    assert code == 1
    assert output.strip().splitlines() == [
        "error: the ticket service cannot start: TRIAGE_NOTIFY_URL: must be an http:// or https:// URL with a host, "
        "got 'ftp://hooks.example.com/…'"
    ]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("TRIAGE_NOTIFY_URL", "https://hooks..example.com/x?key=s3cret", "TRIAGE_NOTIFY_URL: not a URL httpx can"),
        ("TRIAGE_NOTIFY_TOKEN", "s3cret\u200b", "TRIAGE_NOTIFY_TOKEN: must be printable ASCII"),
    ],
)
def test_a_notify_url_or_token_that_cannot_be_sent_stops_serve_in_one_line_without_the_secret(
    registry: Path, taken_port: int, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv("TRIAGE_NOTIFY_URL", "http://127.0.0.1:9/hook")
    monkeypatch.setenv(variable, value)
    code, output = serve(registry, taken_port)
    assert code == 1
    (line,) = output.strip().splitlines()
    assert line.startswith("error: the ticket service cannot start: ") and message in line, line
    assert "s3cret" not in output


def test_a_bad_api_key_stops_serve_naming_the_entry(
    registry: Path, taken_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRIAGE_API_KEYS", "demo-intake-key:intake,short:agent")
    code, output = serve(registry, taken_port)
    assert code != 0
    assert "TRIAGE_API_KEYS, entry 2: the key is shorter than 8 characters" in output
    assert "Traceback" not in output


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        (
            "TRIAGE_PORT",
            "notaport",
            "TRIAGE_PORT: Input should be a valid integer, unable to parse string as an integer",
        ),
        ("TRIAGE_PORT", "70000", "TRIAGE_PORT: Input should be less than or equal to 65535"),
        # uvicorn takes an empty host for every interface
        (
            "TRIAGE_HOST",
            " ",
            "TRIAGE_HOST is empty; name the interface to listen on (127.0.0.1; 0.0.0.0 for every one)",
        ),
        ("TRIAGE_HOST", "bad..host", "TRIAGE_HOST 'bad..host': no interface or host of that name (not a host name)"),
    ],
)
def test_a_bad_host_or_port_variable_stops_serve_in_one_line(
    registry: Path, taken_port: int, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, says: str
) -> None:
    # Before, a bad TRIAGE_PORT was Typer's usage box (exit 2), a bad TRIAGE_HOST uvicorn's error after the start.
    monkeypatch.setenv("TRIAGE_PORT", str(taken_port))
    monkeypatch.setenv(variable, value)
    result = runner.invoke(app, ["serve", "--registry", str(registry)])
    assert result.exit_code == 1, result.output
    assert result.output.strip().splitlines() == [f"error: the ticket service cannot start: {says}"]


def test_an_empty_host_option_is_refused_naming_the_option(registry: Path, taken_port: int) -> None:
    result = runner.invoke(app, ["serve", "--registry", str(registry), "--host", "", "--port", str(taken_port)])
    assert result.exit_code == 1, result.output
    assert "error: the ticket service cannot start: --host is empty" in result.output


def test_the_options_win_over_the_variables(registry: Path, taken_port: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRIAGE_HOST", "bad..host")
    monkeypatch.setenv("TRIAGE_PORT", "8000")
    result = runner.invoke(
        app, ["serve", "--registry", str(registry), "--host", "127.0.0.1", "--port", str(taken_port)]
    )
    assert result.exit_code != 0 and "address already in use" in result.output, result.output


def test_an_empty_registry_stops_serve_when_the_default_model_is_turned_off(
    tmp_path: Path, taken_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Before, serve trained the default model whatever TRIAGE_TRAIN_DEFAULT_MODEL said.
    monkeypatch.delenv("TRIAGE_REGISTRY", raising=False)
    monkeypatch.setenv("TRIAGE_VAR_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("TRIAGE_API_KEYS", "demo-intake-key:intake")
    monkeypatch.setenv("TRIAGE_TRAIN_DEFAULT_MODEL", "false")
    code, output = serve(None, taken_port)
    assert code != 0
    assert f"{tmp_path / 'var' / 'models'}: no current model version" in output
    assert output.count("no current model version") == 1, output
    assert "Traceback" not in output
    assert not (tmp_path / "var" / "models").exists() or not any((tmp_path / "var" / "models").iterdir())


def test_a_good_set_up_logs_what_the_service_runs_with(registry: Path, taken_port: int) -> None:
    # The service's own log lines (unconfigured before: only warnings, bare) in uvicorn's format;
    # then uvicorn cannot bind the taken port and says so.
    code, output = serve(registry, taken_port)
    assert "INFO:     ticket service ready: database sqlite:///" in output
    assert output.count("ticket service ready") == 1, output
    assert ", API keys: intake 1, agent 0, analyst 0, admin 0" in output
    assert code != 0 and "address already in use" in output
    assert "trained only on the team's own sample complaints" not in output  # not that model


def test_serving_a_model_trained_only_on_the_team_corpus_says_so(
    registry: Path, taken_port: int, sample_model: TriageModel
) -> None:
    # as the default model from data/ is: its figures are not those of the operator's complaints
    files = [{"path": str(path), "rows": 1, "sha256": "0" * 64} for path in TEAM_CORPUS]
    save_model(sample_model, registry / "v2", extra={"training_data": {"files": files}})
    Registry(registry).set_current("v2", action="promote", actor="tests")
    code, output = serve(registry, taken_port)
    said = " ".join(output.split())
    assert "WARNING: model test-sample was trained only on the team's own sample complaints in data/" in said, output
    assert "train one with triage train --data CSV" in said and code != 0  # then the port is taken


@pytest.mark.parametrize(
    ("option", "value"), [("--port", "70000"), ("--port", "-1"), ("--port", "http"), ("--workers", "100000")]
)
def test_impossible_numbers_are_refused_before_anything_starts(registry: Path, option: str, value: str) -> None:
    # A port past 65535 was an OverflowError traceback from uvicorn; 100,000 workers would each
    # have loaded a model.
    result = runner.invoke(app, ["serve", "--registry", str(registry), option, value])
    assert result.exit_code == 2
    assert option in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("notaurl", "DATABASE_URL 'notaurl' is not a database URL"),
        ("mysql://someone@somewhere/db", "DATABASE_URL: unsupported database 'mysql'"),
    ],
)
def test_a_bad_database_url_stops_serve_saying_why(
    registry: Path, taken_port: int, monkeypatch: pytest.MonkeyPatch, url: str, says: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", url)
    code, output = serve(registry, taken_port)
    assert code != 0
    assert f"the ticket service cannot start: {says}" in output
    assert output.count("cannot start") == 1, output
    assert "Traceback" not in output


def test_serve_with_two_workers_starts_both_and_answers(registry: Path, tmp_path: Path) -> None:
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path / "serve.log"
    with log.open("w") as stream:
        command = [sys.executable, "-m", "api.cli", "serve", "--registry", str(registry), "--port", str(port)]
        server = subprocess.Popen([*command, "--workers", "2"], stdout=stream, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        ready = 0
        while time.monotonic() < deadline and ready < 2:
            try:
                # two answers in a row: the first worker up is not enough on its own
                ready = ready + 1 if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200 else 0
            except httpx.HTTPError:
                ready = 0
            time.sleep(0.5)
        output = log.read_text()
        assert ready == 2, output
        started = time.monotonic()
        while output.count("Application startup complete") < 2 and time.monotonic() - started < 120:
            time.sleep(1)
            output = log.read_text()
        assert output.count("Application startup complete") == 2, output
        assert "did not answer" not in output and "Traceback" not in output, output
        assert server.poll() is None
    finally:
        server.terminate()
        server.wait(timeout=60)


def uvicorn_factory(tmp_path: Path, factory: str = "api.main:create_app", **variables: str) -> tuple[int, str]:
    """`uvicorn api.main:create_app --factory` (or another `factory`, importable from `tmp_path`) run
    in its own process with the environment's `TRIAGE_*` settings replaced by `variables` (by default
    an empty registry, no default model training): its exit status and what it wrote."""
    environment = {name: value for name, value in os.environ.items() if not name.startswith("TRIAGE_")}
    environment.pop("DATABASE_URL", None)
    environment.update(
        PYTHONPATH=os.pathsep.join([str(ROOT), str(tmp_path), *filter(None, [os.environ.get("PYTHONPATH")])]),
        TRIAGE_VAR_DIR=str(tmp_path / "var"),
        TRIAGE_REGISTRY=str(tmp_path / "models"),
        TRIAGE_TRAIN_DEFAULT_MODEL="false",
    )
    environment.update(variables)
    command = [sys.executable, "-m", "uvicorn", factory, "--factory", "--port", "0"]
    # should a start ever get through, the timeout fails the test rather than serving on
    done = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("variables", "message"),
    [
        ({"TRIAGE_MAX_TEXT_CHARS": "lots"}, "TRIAGE_MAX_TEXT_CHARS: Input should be a valid integer"),
        ({"TRIAGE_API_KEYS": "demo-intake-key:intake,s3cret:agent"}, "TRIAGE_API_KEYS, entry 2: the key is shorter"),
        ({"TRIAGE_API_KEYS": "demo-intake-key:intake,demo-agent-key:boss"}, "TRIAGE_API_KEYS, entry 2: role 'boss'"),
        (
            {"TRIAGE_NOTIFY_URL": "http://127.0.0.1:9/hook", "TRIAGE_NOTIFY_TOKEN": "s3cret token"},
            "TRIAGE_NOTIFY_TOKEN: must be printable ASCII",
        ),
    ],
    ids=["not an integer", "short key", "unknown role", "token with a space"],
)
def test_uvicorn_calling_the_factory_with_a_bad_setting_says_which_in_one_line(
    tmp_path: Path, variables: dict[str, str], message: str
) -> None:
    code, output = uvicorn_factory(tmp_path, **variables)
    assert code == 1, output
    (line,) = output.strip().splitlines()
    assert line.startswith(f"error: the ticket service cannot start: {message}"), line
    assert "s3cret" not in output


def test_uvicorn_running_the_factory_without_a_model_says_why_in_one_line(tmp_path: Path) -> None:
    code, output = uvicorn_factory(tmp_path)  # the registry is empty and the default model not trained
    assert code != 0, output
    assert "Traceback" not in output and output.count("cannot start") == 1, output
    models = tmp_path / "models"
    assert f"the ticket service cannot start: {models}: no current model version; train and promote one" in output


def test_a_start_that_fails_by_a_bug_is_logged_with_its_traceback(tmp_path: Path, model_registry: Path) -> None:
    # A fault put in after the model and database opened: the sweeper's thread cannot start. Only
    # the errors that name what to mend are said in one line; this one needs its traceback.
    (tmp_path / "faulty_app.py").write_text(
        "import api.main\n\n"
        "def start(self):\n"
        "    raise RuntimeError('the sweeper could not start')\n\n"
        "def create_app():\n"
        "    api.main.DeadlineSweeper.start = start\n"
        "    return api.main.create_app()\n",
        encoding="utf-8",
    )
    code, output = uvicorn_factory(tmp_path, "faulty_app:create_app", TRIAGE_REGISTRY=str(model_registry))
    assert code != 0, output
    assert "the ticket service cannot start: RuntimeError: the sweeper could not start" in output
    assert output.count("Traceback") == 1 and "in start" in output, output  # once, down to the fault
