"""Fixtures of the ticket-service tests: a real model in a real registry, real databases.

The model is the session's `sample_model` (trained once on the project's sample data), saved
once into a registry folder; every app loads it from there (the loaded copy is cached per
process). Databases: a SQLite file in the test's tmp_path, and, when TEST_DATABASE_URL is set,
a fresh PostgreSQL schema per test, dropped afterwards.
"""

from __future__ import annotations

import csv
import json
import os
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette 1.x asks for httpx2 at import time; its TestClient still works with httpx.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from fastapi import FastAPI

from api.main import create_app
from api.settings import Settings
from model.artifact import save_model
from model.predictor import TriageModel
from training.registry import Registry

KEYS = {
    "intake": "intake-key-0001",
    "agent": "agent-key-0001",
    "analyst": "analyst-key-0001",
    "admin": "admin-key-0001",
}
KEY_SPEC = ",".join(f"{key}:{role}:{role}-tester" for role, key in KEYS.items())


def headers(role: str, **extra: str) -> dict[str, str]:
    """Request headers carrying the API key of `role`."""
    return {"X-API-Key": KEYS[role], **extra}


class Clock:
    """A settable time source for the app (aware UTC), so due times can be tested without waiting."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        """Move time forward."""
        self.now += timedelta(**delta)


@pytest.fixture(scope="session")
def model_registry(tmp_path_factory: pytest.TempPathFactory, sample_model: TriageModel) -> Path:
    """A registry folder whose current version is the session's sample model."""
    root = tmp_path_factory.mktemp("registry")
    save_model(sample_model, root / sample_model.version)
    Registry(root).set_current(sample_model.version, action="promote", actor="tests")
    return root


def _postgres_url() -> str:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        pytest.skip("TEST_DATABASE_URL is not set: the PostgreSQL store tests are skipped")
    return url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL on a fresh PostgreSQL schema (dropped after the test)."""
    base = _postgres_url()
    schema = f"test_api_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs on a SQLite file and on PostgreSQL (skipped without TEST_DATABASE_URL)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store' / 'triage.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def clock() -> Clock:
    """The app's clock, starting at 2026-11-23 10:00 in Shanghai."""
    return Clock(datetime(2026, 11, 23, 2, 0, tzinfo=UTC))


@pytest.fixture
def make_settings(tmp_path: Path, model_registry: Path) -> Callable[..., Settings]:
    """Settings for a test app (SQLite in tmp_path unless `database_url` is given)."""

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "var_dir": tmp_path / "var",
            "registry": model_registry,
            "api_keys": KEY_SPEC,
            "model_poll_seconds": 0,
            "train_default_model": False,
            # no sweep in the background of tests that do not ask for one (they run it themselves)
            "deadline_sweep_seconds": 0,
        }
        values.update(overrides)
        return Settings(**values)

    return build


@pytest.fixture
def make_client(make_settings: Callable[..., Settings], clock: Clock) -> Iterator[Callable[..., TestClient]]:
    """Start apps (lifespan included) and stop them at the end of the test."""
    started: list[TestClient] = []

    def start(**overrides: Any) -> TestClient:
        app: FastAPI = create_app(make_settings(**overrides), clock=clock)
        client = TestClient(app)
        client.__enter__()
        started.append(client)
        return client

    yield start
    for client in reversed(started):
        client.__exit__(None, None, None)


@pytest.fixture
def client(make_client: Callable[..., TestClient]) -> TestClient:
    """An app on a SQLite file in tmp_path."""
    return make_client()


@pytest.fixture
def store_client(database_url: str, make_client: Callable[..., TestClient]) -> TestClient:
    """An app on each database backend (stopped before its database is dropped)."""
    return make_client(database_url=database_url)


COMPLAINT = {
    "text": "买的热水器用了三天就漏水，打客服电话13812345678一直没人接，要求上门维修。",
    "channel": "phone",
    "customer_id": "C-1001",
    "customer_name": "张先生",
    "contact": "13812345678",
    "order_id": "JD-20261120-77",
    "product": "热水器",
}


def create_ticket(client: TestClient, key: str | None = None, **fields: Any) -> dict[str, Any]:
    """Create a ticket through the API (a fresh Idempotency-Key unless given) and return it."""
    body = {**COMPLAINT, **fields}
    response = client.post(
        "/v1/tickets", json=body, headers=headers("intake", **{"Idempotency-Key": key or uuid.uuid4().hex})
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def read_ticket(client: TestClient, ticket_no: str) -> dict[str, Any]:
    """GET one ticket as an agent (asserting it is found)."""
    response = client.get(f"/v1/tickets/{ticket_no}", headers=headers("agent"))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The header and the rows of a CSV (an export), as written: cells are not unmarked."""
    with path.open(encoding="utf-8", newline="") as stream:
        reader = csv.DictReader(stream)
        return list(reader.fieldnames or []), list(reader)


def write_csv(path: Path, columns: list[str], rows: list[dict[str, str]]) -> Path:
    """`rows` written to `path` with `columns` only (an export of an earlier release, say)."""
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    return path


@dataclass
class Received:
    """One POST the receiver got."""

    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.body.decode("utf-8"))
        return result


@dataclass
class Receiver:
    """A local HTTP receiver (a real server): records every POST and answers with the scripted
    `statuses`, then with `status`."""

    url: str
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    status: int = 200
    delay: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, request: Received) -> int:
        with self.lock:
            self.received.append(request)
            return self.statuses.pop(0) if self.statuses else self.status


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver on 127.0.0.1, port chosen by the system."""
    state: dict[str, Receiver] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            length = int(self.headers.get("Content-Length", "0"))
            request = Received({key.lower(): value for key, value in self.headers.items()}, self.rfile.read(length))
            if state["receiver"].delay:
                time.sleep(state["receiver"].delay)
            status = state["receiver"].answer(request)
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *_: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state["receiver"] = Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks/escalation")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state["receiver"]
    finally:
        server.shutdown()
        server.server_close()
