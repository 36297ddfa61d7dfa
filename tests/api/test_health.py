"""Health, readiness, metrics, the docs, and the schema migrations on both databases."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

from api.db import Database, SchemaError, head_revisions
from api.deps import Services
from api.tables import Base

from .conftest import TestClient, create_ticket, headers


def test_healthz_and_readyz(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready", "model_version": "test-sample", "reasons": []}


def test_every_get_route_answers_head_with_the_status_and_headers_only(client: TestClient) -> None:
    ticket_no = create_ticket(client)["ticket_no"]
    for path in ("/healthz", "/readyz", "/metrics", "/console", "/v1/tickets", f"/v1/tickets/{ticket_no}", "/v1/model"):
        got = client.get(path, headers=headers("admin"))
        response = client.head(path, headers=headers("admin"))
        assert response.status_code == got.status_code == 200, path
        assert response.content == b"" and response.headers["content-type"] == got.headers["content-type"]
    assert client.head("/v1/tickets").status_code == 401  # the key is checked as for GET
    assert "head" not in client.get("/openapi.json").json()["paths"]["/healthz"]
    # a path without GET: 405 naming HEAD, and the Allow header lists HEAD only beside GET
    refused = client.head("/v1/classify", headers=headers("admin"))
    assert refused.status_code == 405 and refused.headers["allow"] == "POST"
    listed = client.request("PUT", "/v1/tickets", headers=headers("admin"))
    assert listed.headers["allow"] == "GET, HEAD, POST"


def test_head_leaves_the_servers_own_scope_saying_head(client: TestClient) -> None:
    # A server such as uvicorn's httptools protocol reads its scope's method while sending the
    # response: it must still be HEAD, or the server waits for the body a GET would have.
    scope: dict[str, Any] = {
        "type": "http",
        "http_version": "1.1",
        "method": "HEAD",
        "scheme": "http",
        "path": "/healthz",
        "raw_path": b"/healthz",
        "root_path": "",
        "query_string": b"",
        "headers": [],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 1),
    }
    methods_while_sending: list[str] = []
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        methods_while_sending.append(scope["method"])
        messages.append(message)

    asyncio.run(client.app(scope, receive, send))  # type: ignore[arg-type]
    assert set(methods_while_sending) == {"HEAD"}
    assert messages[0]["status"] == 200 and messages[-1]["body"] == b""
    assert getattr(scope.get("route"), "path", None) == "/healthz"  # for the metrics outside


def test_made_up_methods_do_not_become_metric_labels(client: TestClient) -> None:
    for method in ("FOO1", "FOO2", "FOO3"):
        assert client.request(method, "/healthz").status_code == 405
    client.head("/readyz")
    body = client.get("/metrics").text
    assert "FOO" not in body and 'method="OTHER",route="/healthz",status="405"} 3.0' in body
    assert 'method="HEAD",route="/readyz",status="200"} 1.0' in body  # a HEAD is counted as one


def test_readyz_is_503_with_the_reason_when_the_database_is_unreachable(client: TestClient) -> None:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    working = services.database
    services.database = Database("postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2")
    try:
        response = client.get("/readyz")
        assert response.status_code == 503
        assert client.head("/readyz").status_code == 503
        assert response.json()["status"] == "not_ready"
        assert response.json()["reasons"] == ["database unreachable (OperationalError)"]
        tickets = client.get("/v1/tickets", headers=headers("agent"))
        assert tickets.status_code == 503
        assert tickets.json()["detail"][0]["type"] == "database_unavailable"
    finally:
        assert services.database is not None
        services.database.dispose()
        services.database = working


def test_an_unexpected_error_is_a_500_whose_message_reaches_neither_client_nor_log(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "13812345678 from the request"

    def fail() -> None:
        raise RuntimeError(secret)  # as a driver error quoting a value it refused

    client.app.add_api_route("/v1/fail", fail)  # type: ignore[attr-defined]
    # The test client re-raises what escapes the app, as a server would log it with its message
    # (Starlette's last resort answers and then re-raises): here nothing escapes.
    response = client.get("/v1/fail", headers=headers("agent"))
    assert response.status_code == 500
    assert response.json()["detail"][0]["type"] == "internal_error" and secret not in response.text
    assert "unhandled RuntimeError in GET /v1/fail" in caplog.text and secret not in caplog.text
    assert 'triage_http_requests_total{method="GET",route="/v1/fail",status="500"} 1.0' in client.get("/metrics").text


def test_metrics_count_requests_by_route_template_predictions_and_tickets(client: TestClient) -> None:
    ticket_no = create_ticket(client)["ticket_no"]
    client.get(f"/v1/tickets/{ticket_no}", headers=headers("agent"))
    client.get("/v1/tickets/TS-20990101-000001", headers=headers("agent"))
    client.post("/v1/classify", json={"text": "客服态度太差"}, headers=headers("intake"))
    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    body = metrics.text
    assert 'triage_http_requests_total{method="GET",route="/v1/tickets/{ticket_no}",status="200"} 1.0' in body
    assert 'triage_http_requests_total{method="GET",route="/v1/tickets/{ticket_no}",status="404"} 1.0' in body
    assert 'triage_http_requests_total{method="POST",route="/v1/tickets",status="201"} 1.0' in body
    assert "triage_http_request_duration_seconds_bucket" in body
    assert ticket_no not in body
    assert 'triage_predictions_total{head="category",label=' in body
    assert "triage_tickets_created_total{tier=" in body
    assert 'triage_model_info{version="test-sample"} 1.0' in body


def test_each_app_has_its_own_metrics(make_client: Callable[..., TestClient]) -> None:
    first, second = make_client(), make_client()
    first.post("/v1/classify", json={"text": "快递慢"}, headers=headers("intake"))
    assert 'route="/v1/classify"' in first.get("/metrics").text
    assert 'route="/v1/classify"' not in second.get("/metrics").text


def test_the_docs_describe_every_route_with_the_api_key(client: TestClient) -> None:
    assert "swagger" in client.get("/docs").text.lower()
    schema = client.get("/openapi.json").json()
    assert schema["components"]["securitySchemes"]["ApiKey"]["name"] == "X-API-Key"
    assert schema["paths"]["/v1/tickets"]["post"]["security"] == [{"ApiKey": []}, {"Bearer": []}]
    assert "security" not in schema["paths"]["/healthz"]["get"]


class _Assets(HTMLParser):
    """The URLs a page loads: its scripts, style sheets and icons."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.urls.append(value)


@pytest.mark.parametrize(("page", "assets"), [("/docs", 3), ("/redoc", 2)])
def test_the_docs_pages_load_nothing_from_another_host(client: TestClient, page: str, assets: int) -> None:
    # On an intranet without internet a page whose script comes from a CDN renders blank.
    html = client.get(page)
    assert html.status_code == 200
    assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html.text, re.IGNORECASE), html.text
    parser = _Assets()
    parser.feed(html.text)
    assert len(parser.urls) == assets, parser.urls  # the script, the icon, and Swagger UI's style sheet
    for url in parser.urls:
        asset = client.get(url)  # without a key
        assert asset.status_code == 200, (url, asset.text[:200])
        assert len(asset.content) > 1000, url


def test_the_schema_of_the_migrations_matches_the_models(database_url: str) -> None:
    database = Database(database_url)
    try:
        database.prepare(auto_migrate=True)
        with database.engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
        database.prepare(auto_migrate=False)  # current now: no complaint
    finally:
        database.dispose()


def test_a_database_behind_is_refused_when_auto_migration_is_off(
    database_url: str, make_client: Callable[..., TestClient]
) -> None:
    with pytest.raises(SchemaError, match="run `alembic -c api/alembic.ini upgrade head`"):
        make_client(database_url=database_url, auto_migrate=False)
    client = make_client(database_url=database_url)  # migrates
    assert client.get("/readyz").status_code == 200
    assert make_client(database_url=database_url, auto_migrate=False).get("/readyz").status_code == 200


def test_a_database_of_a_newer_version_is_refused(database_url: str) -> None:
    database = Database(database_url)
    try:
        database.prepare(auto_migrate=True)
        with database.engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = 'from_the_future'"))
        with pytest.raises(SchemaError, match="revision from_the_future, which this code does not know"):
            database.prepare(auto_migrate=True)
        assert head_revisions() == {"0008"}
    finally:
        database.dispose()


def test_the_default_database_is_a_sqlite_file_under_var_in_wal_mode(client: TestClient, tmp_path: Path) -> None:
    services: Services = client.app.state.services  # type: ignore[attr-defined]
    assert services.database is not None
    assert (tmp_path / "var" / "triage.db").is_file()
    with services.database.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"


@pytest.mark.parametrize(
    ("url", "message"),
    [("mysql://root@localhost/x", "unsupported database 'mysql'"), ("sqlite://", "SQLite needs a file path")],
)
def test_unsupported_database_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        Database(url)


def test_a_postgresql_server_that_never_answers_is_given_up_not_waited_for() -> None:
    import socket
    import threading

    from sqlalchemy.exc import OperationalError

    errors: list[Exception] = []

    def connect(database: Database) -> None:
        try:
            with database.engine.connect():
                pass
        except OperationalError as error:
            errors.append(error)

    # A server that accepts the connection and then says nothing, like a hung database. The
    # driver's own default would wait 130 s; the bound here is far from both that and the 5 s.
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        database = Database(f"postgresql+psycopg://nobody@127.0.0.1:{listener.getsockname()[1]}/none")
        attempt = threading.Thread(target=connect, args=(database,), daemon=True)
        attempt.start()
        attempt.join(timeout=60)
        assert not attempt.is_alive(), "still waiting for a server that never answers"
        database.dispose()
    assert len(errors) == 1 and "timeout expired" in str(errors[0])
