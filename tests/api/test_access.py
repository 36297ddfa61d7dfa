"""Access control: 401 without a valid key and 403 for a wrong role, on every route of the app."""

from __future__ import annotations

import base64
import logging
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from api.auth import ROLES, KeyConfigError, load_key_ring
from api.deps import RoleGuard
from api.main import create_app
from api.middleware import DOCS_ASSETS, OPEN_PATHS
from api.settings import Settings

from .conftest import KEYS, TestClient, create_ticket, headers

PLACEHOLDER = re.compile(r"\{[^}]+\}")


def _guard(route: APIRoute) -> RoleGuard | None:
    """The RoleGuard among a route's dependencies (searched recursively)."""
    pending = list(route.dependant.dependencies)
    while pending:
        dependant = pending.pop()
        if isinstance(dependant.call, RoleGuard):
            return dependant.call
        pending.extend(dependant.dependencies)
    return None


def _protected_routes(client: TestClient) -> list[tuple[str, str, RoleGuard | None]]:
    """Every (method, path) the app serves, except the open ones, with its role guard."""
    found = []
    for context in iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
        path = context.path
        assert path is not None, f"a route without a path: {context.original_route!r}"
        if path in OPEN_PATHS or path == DOCS_ASSETS:  # the docs pages' files, each of them open
            continue
        route = context.original_route
        assert isinstance(route, APIRoute), f"{path} is not an API route and not declared open"
        for method in sorted(context.methods or ()):
            found.append((method, path, _guard(route)))
    return found


def test_every_route_that_is_not_open_declares_a_role_guard(client: TestClient) -> None:
    routes = _protected_routes(client)
    assert len(routes) >= 8
    unguarded = [f"{method} {path}" for method, path, guard in routes if guard is None]
    assert not unguarded, f"routes without require_role(...): {unguarded}"


def test_every_route_answers_401_without_a_key_and_403_for_other_roles(client: TestClient) -> None:
    ticket_no = create_ticket(client)["ticket_no"]
    for method, path, guard in _protected_routes(client):
        assert guard is not None
        url = PLACEHOLDER.sub(ticket_no, path)
        missing = client.request(method, url, json={})
        assert missing.status_code == 401, (method, path, missing.text)
        assert missing.json()["detail"][0]["type"] == "missing_api_key"
        assert missing.headers["WWW-Authenticate"] == "Bearer"
        wrong = client.request(method, url, json={}, headers={"X-API-Key": "not-a-configured-key"})
        assert wrong.status_code == 401, (method, path)
        assert wrong.json()["detail"][0]["type"] == "invalid_api_key"
        for role in ROLES:
            answer = client.request(method, url, json={}, headers=headers(role))
            if role == "admin" or role in guard.roles:
                assert answer.status_code not in (401, 403), (method, path, role, answer.text)
            else:
                assert answer.status_code == 403, (method, path, role, answer.text)
                assert role in answer.json()["detail"][0]["msg"]
                if method == "POST":  # a body the route cannot read does not come first
                    broken = client.request(
                        method, url, content=b"{bad", headers={**headers(role), "Content-Type": "application/json"}
                    )
                    assert broken.status_code == 403, (method, path, role, broken.text)


def test_every_route_refuses_a_query_parameter_it_does_not_take(client: TestClient) -> None:
    ticket_no = create_ticket(client)["ticket_no"]
    for method, path, guard in _protected_routes(client):
        assert guard is not None
        url = PLACEHOLDER.sub(ticket_no, path) + "?overdu=true"
        role = next(role for role in ROLES if role in guard.roles)
        answer = client.request(method, url, json={}, headers=headers(role))
        assert answer.status_code == 422, (method, path, answer.text)
        (item,) = answer.json()["detail"]
        assert (item["loc"], item["type"]) == (["query", "overdu"], "extra_forbidden"), (method, path)
        assert "unknown query parameter 'overdu'" in item["msg"]
        # a role the route refuses is told that first
        for other in set(ROLES) - guard.roles - {"admin"}:
            assert client.request(method, url, json={}, headers=headers(other)).status_code == 403, (method, path)
    # the listing names the filters it takes; a wrong name no longer lists every ticket unfiltered
    listing = client.get("/v1/tickets?customer_id=C-1001&statu=closed", headers=headers("agent"))
    assert listing.status_code == 422
    message = listing.json()["detail"][0]["msg"]
    assert "'customer_id', 'statu'" in message and "overdue" in message and "status" in message
    assert client.get("/v1/tickets?status=closed&overdue=false", headers=headers("agent")).status_code == 200


def test_roles_per_route_are_those_of_the_issue(client: TestClient) -> None:
    expected = {
        ("POST", "/v1/classify"): {"intake", "analyst"},
        ("POST", "/v1/classify/batch"): {"intake", "analyst"},
        ("POST", "/v1/tickets"): {"intake"},
        ("GET", "/v1/tickets"): {"agent", "analyst"},
        ("GET", "/v1/tickets/{ticket_no}"): {"agent", "analyst"},
        ("POST", "/v1/tickets/{ticket_no}/events"): {"agent"},
        ("POST", "/v1/tickets/{ticket_no}/survey"): {"agent", "intake"},
        ("GET", "/v1/model"): {"analyst", "agent"},
        ("POST", "/v1/tickets/{ticket_no}/review"): {"agent"},
        ("GET", "/v1/review-queue"): {"agent"},
        ("GET", "/v1/stats"): {"analyst"},
        ("GET", "/v1/stats/drift"): {"analyst"},
        ("GET", "/v1/notifications"): {"agent", "analyst"},
        ("GET", "/v1/me"): {"intake", "agent", "analyst"},
    }
    actual = {(method, path): set(guard.roles) for method, path, guard in _protected_routes(client) if guard}
    assert actual == expected


def test_me_says_the_role_and_name_of_each_key(client: TestClient) -> None:
    for role in ROLES:
        answer = client.get("/v1/me", headers=headers(role))
        assert answer.status_code == 200, answer.text
        assert answer.json()["role"] == role and answer.json()["name"]
    assert client.get("/v1/me").status_code == 401


def test_me_names_the_business_time_zone(make_client: Callable[..., TestClient]) -> None:
    client = make_client(timezone="Europe/Berlin")
    answer = client.get("/v1/me", headers=headers("agent"))
    assert answer.status_code == 200, answer.text
    assert answer.json()["timezone"] == "Europe/Berlin"


def test_open_routes_need_no_key(client: TestClient) -> None:
    for path in ("/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"):
        assert client.get(path).status_code == 200, path


@pytest.mark.parametrize("path", ["/health", "/doc", "/consol", "/v1/nothing", "/v1/ticket", "/console/other.js"])
def test_a_path_no_route_serves_is_a_404_with_or_without_a_key(client: TestClient, path: str) -> None:
    # A mistyped probe (/health for /healthz) must not read as a problem with the key.
    for sent in ({}, {"X-API-Key": "not-a-configured-key"}, headers("admin")):
        for method in ("GET", "POST", "HEAD"):
            response = client.request(method, path, headers=sent)
            assert response.status_code == 404, (method, path, sent, response.text)
            if method != "HEAD":
                assert response.json() == {"detail": [{"loc": ["path"], "msg": "no such route", "type": "not_found"}]}
            assert "www-authenticate" not in response.headers


def test_a_path_a_route_serves_still_needs_its_key_whatever_the_method(client: TestClient) -> None:
    for method, path in (("GET", "/v1/tickets"), ("DELETE", "/v1/tickets"), ("GET", "/v1/tickets/TS-1")):
        response = client.request(method, path)
        assert response.status_code == 401, (method, path, response.text)
        assert response.json()["detail"][0]["type"] == "missing_api_key"
    # with a trailing slash the router leads to the route, which then asks for the key
    moved = client.get("/v1/tickets/", follow_redirects=False)
    assert moved.status_code == 307 and moved.headers["location"].endswith("/v1/tickets")
    assert client.get("/v1/tickets/").status_code == 401
    assert client.get("/healthz/").status_code == 200


def test_the_root_url_leads_to_the_console(client: TestClient) -> None:
    for method in ("GET", "HEAD"):
        moved = client.request(method, "/", follow_redirects=False)
        assert moved.status_code == 307, (method, moved.text)
        assert moved.headers["location"] == "console"
    page = client.get("/")
    assert page.status_code == 200 and str(page.url).endswith("/console") and "投诉审核台" in page.text


def test_a_wrong_method_names_every_method_the_path_serves(client: TestClient) -> None:
    # /v1/tickets has two routes (POST creates, GET lists); Starlette's 405 named the first only.
    for method in ("OPTIONS", "PUT", "DELETE"):
        response = client.request(method, "/v1/tickets", headers=headers("admin"))
        assert response.status_code == 405
        assert response.headers["allow"] == "GET, HEAD, POST"
        (problem,) = response.json()["detail"]
        assert problem["type"] == "method_not_allowed"
        assert problem["msg"] == f"{method} is not served at /v1/tickets; allowed: GET, HEAD, POST"


def test_bearer_token_works_like_the_header(client: TestClient) -> None:
    response = client.get("/v1/model", headers={"Authorization": f"Bearer {KEYS['analyst']}"})
    assert response.status_code == 200
    # a proxy's own Basic credentials beside the key are no matter
    both = {"Authorization": "Basic cHJveHk6c2VjcmV0", **headers("analyst")}
    assert client.get("/v1/model", headers=both).status_code == 200


@pytest.mark.parametrize(
    ("authorization", "says"),
    [
        (f"Basic {base64.b64encode(b'analyst:' + KEYS['analyst'].encode()).decode()}", "Authorization: Basic is not"),
        (f"basic {KEYS['analyst']}", "Authorization: Basic is not accepted here"),
        (f"Token {KEYS['analyst']}", "Authorization: Token is not accepted here"),
        (KEYS["analyst"], 'the Authorization header does not start with "Bearer "'),
        (f"{KEYS['analyst']} extra", 'the Authorization header does not start with "Bearer "'),
        ("Bearer ", "says Bearer but holds no key after it"),
        ("", "the Authorization header is empty"),
    ],
)
def test_another_authorization_scheme_is_told_what_it_sent_and_what_to_send(
    client: TestClient, authorization: str, says: str
) -> None:
    response = client.get("/v1/model", headers={"Authorization": authorization})
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    [detail] = response.json()["detail"]
    assert detail["type"] == "missing_api_key" and detail["loc"] == ["header", "Authorization"]
    assert says in detail["msg"]
    assert detail["msg"].endswith("send the API key in the X-API-Key header or as Authorization: Bearer <key>")
    assert KEYS["analyst"] not in detail["msg"] and "YW5hbHlzdD" not in detail["msg"]  # no credentials echoed


def test_keys_are_never_logged(client: TestClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client.get("/v1/model", headers={"X-API-Key": "wrong-secret-key-123"})
    client.get("/v1/model", headers=headers("analyst"))
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "wrong-secret-key-123" not in logged
    assert KEYS["analyst"] not in logged


def test_keys_come_from_the_variable_and_the_file(tmp_path: Path) -> None:
    key_file = tmp_path / "keys.txt"
    key_file.write_text("# agents\nfile-agent-key:agent:李四\n\n", encoding="utf-8")
    ring = load_key_ring("env-intake-key:intake", key_file)
    intake = ring.authenticate("env-intake-key")
    agent = ring.authenticate("file-agent-key")
    assert intake is not None and intake.role == "intake" and intake.name.startswith("intake#")
    assert agent is not None and agent.role == "agent" and agent.name == "李四"
    assert ring.authenticate("file-agent-ke") is None


def test_a_keys_file_that_is_not_utf8_is_named_in_one_line(tmp_path: Path) -> None:
    key_file = tmp_path / "keys.txt"
    key_file.write_bytes("file-agent-key:agent:José\n".encode("latin-1"))
    with pytest.raises(KeyConfigError) as refused:
        load_key_ring(None, key_file)
    assert str(refused.value) == f"TRIAGE_API_KEYS_FILE {key_file}: not UTF-8 text (byte 25); save it as UTF-8"  # é
    assert "file-agent-key" not in str(refused.value)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("some-long-key:boss", "role 'boss' is not one of intake, agent, analyst, admin"),
        ("short:agent", "shorter than 8 characters"),
        ("no-role-given-here", "expected key:role"),
        ("same-key-twice:agent,same-key-twice:intake", "entry 2: the same key as entry 1"),
        # the name is stored as a ticket's 接收人 and as the actor of events: 100 characters at most
        ("some-long-key:intake:" + "呼" * 101, "entry 1: the name is longer than 100 characters"),
        # every problem of an entry, not the first only
        ("k1:boss", "entry 1: the key is shorter than 8 characters, role 'boss' is not one of intake, agent, analyst"),
        ("same-key-twice:boss:" + "呼" * 101, "entry 1: role 'boss' is not one of intake, agent, analyst, admin, the"),
        # a role as long as a key may be one: it is not quoted
        ("agent:some-long-key", "entry 1: role and key in the wrong order; write key:role or key:role:name"),
        ("same-key-twice:some-long-key", "entry 1: role of 13 characters is not one of intake, agent, analyst"),
    ],
)
def test_bad_key_configuration_is_refused_without_showing_the_key(spec: str, message: str) -> None:
    with pytest.raises(KeyConfigError) as error:
        load_key_ring(spec, None)
    assert message in str(error.value)
    assert "some-long-key" not in str(error.value) and "same-key-twice" not in str(error.value)


def test_every_bad_key_entry_is_named_at_once(tmp_path: Path) -> None:
    key_file = tmp_path / "keys.txt"
    key_file.write_text("good-agent-key:agent\nk1:boss\n# a comment\nno-role-given-here\n", encoding="utf-8")
    with pytest.raises(KeyConfigError) as error:
        load_key_ring("good-intake-key:intake", key_file)
    assert str(error.value) == (
        f"TRIAGE_API_KEYS_FILE {key_file}, entry 2: the key is shorter than 8 characters, role 'boss' is not one of "
        "intake, agent, analyst, admin; entry 4: expected key:role or key:role:name"
    )


def test_missing_key_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(KeyConfigError, match="TRIAGE_API_KEYS_FILE .*cannot be read"):
        create_app(Settings(var_dir=tmp_path, api_keys_file=tmp_path / "missing.txt"))
