"""Token revocation and expiry as API clients meet them: a real server, and the very next
request after a token is revoked or expires is 401."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from services.bootstrap import open_token_store
from services.settings import Settings
from tests.e2e.conftest import LEAD, LiveServer, live_server, problem


class Clock:
    """The server's clock for tokens: the real time until a test moves it on."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server(database_url: str, clock: Clock) -> Iterator[LiveServer]:
    with live_server(database_url, clock=clock) as running:
        yield running


Denials = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def denials(caplog: pytest.LogCaptureFixture) -> Iterator[Denials]:
    with caplog.at_level(logging.WARNING, logger="crm.auth"):
        yield lambda: [json.loads(r.getMessage()) for r in caplog.records if r.name == "crm.auth"]


def bearer(server: LiveServer, token: str) -> httpx.Client:
    return server.client(None, Authorization=f"Bearer {token}")


def test_a_revoked_token_is_refused_on_the_very_next_request(
    server: LiveServer, database_url: str, denials: Denials
) -> None:
    issued = server.tokens.issue_token("alice", "manager")
    alice = bearer(server, issued.token)
    lead_id = alice.post("/v1/leads", json=LEAD).json()["id"]
    assert alice.get(f"/v1/leads/{lead_id}").status_code == 200
    head = server.head()

    # revoked through another store on the same database, as `crm token revoke` does it
    operator = open_token_store(Settings(database_url=database_url))
    try:
        operator.revoke(issued.record.id)
    finally:
        operator.close()
    read = alice.get(f"/v1/leads/{lead_id}")
    write = alice.post(f"/v1/leads/{lead_id}/stage", json={"stage": "contacted"})
    listing = alice.get("/v1/leads")

    for response in (read, write, listing):
        body = problem(response, 401)
        assert body["type"].endswith("/unauthenticated") and body["detail"] == "the bearer token was revoked"
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert server.head() == head
    assert [d["reason"] for d in denials()] == ["revoked_token"] * 3
    assert all(issued.token not in json.dumps(d) for d in denials())
    # the owner's other tokens still work
    assert server.client("alice", "manager").get(f"/v1/leads/{lead_id}").status_code == 200


def test_an_expired_token_is_refused_on_the_very_next_request(
    server: LiveServer, clock: Clock, denials: Denials
) -> None:
    token = server.tokens.issue("bob", "admin", expires_in=timedelta(hours=1))
    bob = bearer(server, token)
    lead_id = bob.post("/v1/leads", json=LEAD).json()["id"]
    clock.advance(minutes=59)
    assert bob.get(f"/v1/leads/{lead_id}").status_code == 200

    clock.advance(minutes=1)
    expired = bob.get(f"/v1/leads/{lead_id}")

    body = problem(expired, 401)
    assert body["type"].endswith("/unauthenticated") and body["detail"] == "the bearer token has expired"
    assert [d["reason"] for d in denials()] == ["expired_token"]


def test_a_token_issued_already_expired_is_never_accepted(server: LiveServer) -> None:
    token = server.tokens.issue("carol", "admin", expires_in=timedelta(seconds=-1))
    assert problem(bearer(server, token).get("/v1/pipeline"), 401)["detail"] == "the bearer token has expired"


def test_requests_record_when_a_token_was_last_used_once_a_minute(server: LiveServer, clock: Clock) -> None:
    issued = server.tokens.issue_token("dora", "analyst")
    dora = bearer(server, issued.token)

    def last_used() -> datetime | None:
        return next(r.last_used_at for r in server.tokens.list_tokens("dora"))

    assert last_used() is None
    assert dora.get("/v1/pipeline").status_code == 200
    first = last_used()
    assert first is not None
    for _ in range(5):
        assert dora.get("/v1/pipeline").status_code == 200
    assert last_used() == first
    clock.advance(minutes=1)
    assert dora.get("/v1/pipeline").status_code == 200
    later = last_used()
    assert later is not None and later >= first + timedelta(minutes=1)
