"""The form of a request, checked once for every route: a query parameter the route does not
take is a 422 naming it and the ones it takes; a body sent as anything but JSON is a 415."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from services.api.app import create_app
from services.api.request_form import is_json
from services.bootstrap import bootstrap
from services.settings import Settings
from services.storage.access_log import MemoryAccessLog
from services.storage.tokens import MemoryTokenStore

LEAD = {"name": "Ada Lovelace", "email": "ada@acme.example", "source": "web_form"}


@pytest.fixture
def client() -> Iterator[TestClient]:
    """An admin's client of the API over an in-memory store."""
    crm = bootstrap(Settings(database_url="memory://"))
    tokens = MemoryTokenStore()
    app = create_app(crm, tokens, access_log=MemoryAccessLog())
    try:
        with TestClient(app, headers={"Authorization": f"Bearer {tokens.issue('root', 'admin')}"}) as test_client:
            yield test_client
    finally:
        crm.close()


def problem(response: Any, status: int) -> dict[str, Any]:
    """The problem+json body of a response of that status."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def test_an_unknown_query_parameter_is_a_422_naming_it_and_the_parameters_the_route_takes(
    client: TestClient,
) -> None:
    body = problem(client.get("/v1/leads", params={"stage": "new", "stgae": "new", "limit": 5}), 422)

    assert body["type"] == "/problems/validation"
    assert body["detail"] == "1 invalid input(s): stgae"
    assert body["errors"] == [
        {
            "field": "stgae",
            "message": "unknown query parameter; this route takes: as_of, cursor, email, known_at, limit, "
            "min_position, min_score, owner, source, stage",
            "type": "unknown_query_parameter",
        }
    ]


def test_a_route_without_query_parameters_says_it_takes_none(client: TestClient) -> None:
    body = problem(client.get("/healthz", params={"verbose": "1"}), 422)

    assert body["errors"] == [
        {
            "field": "verbose",
            "message": "unknown query parameter; this route takes none",
            "type": "unknown_query_parameter",
        }
    ]


def test_every_unknown_query_parameter_is_named_and_nothing_is_appended(client: TestClient) -> None:
    app = client.app
    crm = app.state.crm  # type: ignore[attr-defined]
    head = crm.head_position()

    body = problem(client.post("/v1/leads", params={"b": "1", "a": "2"}, json=LEAD), 422)

    assert [error["field"] for error in body["errors"]] == ["a", "b"]
    assert crm.head_position() == head


def test_the_query_parameters_of_a_routes_dependencies_are_declared_ones_too(client: TestClient) -> None:
    # no read models are served here (503), but the parameters passed the check
    assert problem(client.get("/v1/tasks", params={"limit": 5, "status": "open"}), 503)
    body = problem(client.get("/v1/tasks", params={"limit": 5, "page": 2}), 422)

    assert body["errors"][0]["message"] == (
        "unknown query parameter; this route takes: cursor, due_before, limit, min_position, owner, status"
    )


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "Application/JSON", "application/merge-patch+json"],
)
def test_a_json_body_is_taken_with_any_json_media_type(client: TestClient, content_type: str) -> None:
    response = client.post("/v1/leads", content=json.dumps(LEAD), headers={"Content-Type": content_type})

    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "json", ""]
)
def test_a_body_of_another_media_type_is_a_415_saying_to_send_json(client: TestClient, content_type: str) -> None:
    crm = client.app.state.crm  # type: ignore[attr-defined]
    head = crm.head_position()

    body = problem(client.post("/v1/leads", content=b'{"name": "Ada"}', headers={"Content-Type": content_type}), 415)

    assert body["type"] == "/problems/unsupported-media-type"
    assert "`application/json`" in body["detail"]
    assert crm.head_position() == head


def test_a_body_without_a_content_type_is_a_415(client: TestClient) -> None:
    body = problem(client.patch("/v1/users/nobody", content=b'{"active": false}'), 415)

    assert "Content-Type: application/json" in body["detail"]


def test_an_optional_body_may_be_left_out_without_a_content_type(client: TestClient) -> None:
    lead_id = client.post("/v1/leads", json=LEAD).json()["id"]

    assert client.post(f"/v1/leads/{lead_id}/rescore").status_code == 200
    assert problem(client.post(f"/v1/leads/{lead_id}/rescore", content=b"{}"), 415)
    assert problem(client.post("/v1/leads"), 422)["errors"][0]["message"] == "a JSON body is required"


def test_routes_without_a_body_do_not_look_at_the_content_type(client: TestClient) -> None:
    assert client.get("/v1/users", headers={"Content-Type": "text/plain"}).status_code == 200


@pytest.mark.parametrize(
    ("content_type", "expected"),
    [
        ("application/json", True),
        ("application/problem+json; charset=utf-8", True),
        ("application/jsonx", False),
        ("text/json", False),
        ("*/*", False),
        ("application/json-seq", False),
    ],
)
def test_which_media_types_are_json(content_type: str, expected: bool) -> None:
    assert is_json(content_type) is expected
