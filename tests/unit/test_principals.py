"""The caller behind a token, as the API's routes and the console's pages both resolve it."""

from __future__ import annotations

import json

import pytest

from services.auth.access import Caller
from services.auth.policy import Principal, Refusal, Role
from services.auth.principals import caller_behind


class Tokens:
    """A token store of one valid token and one revoked one."""

    def resolve(self, token: str) -> Principal | Refusal:
        """The principal of the valid token; the revoked and any other token refused."""
        if token == "good":
            return Principal("alice", Role.REP)
        return Refusal.REVOKED if token == "revoked" else Refusal.UNKNOWN


WHERE = {"request_id": "req-1", "method": "GET", "path": "/v1/leads", "route": "/v1/leads"}


def test_a_valid_token_is_the_caller_of_the_request() -> None:
    caller = caller_behind(Tokens(), "good", **WHERE, access_log=None)
    assert caller == Caller(Principal("alice", Role.REP), "req-1", "GET", "/v1/leads", route="/v1/leads")


def test_a_revoked_token_is_refused_with_its_reason_and_logged_as_a_denial(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="crm.auth"):
        assert caller_behind(Tokens(), "revoked", **WHERE, access_log=None) is Refusal.REVOKED
    [line] = [json.loads(r.getMessage()) for r in caplog.records if r.name == "crm.auth"]
    assert line == {
        "event": "auth.denied",
        "reason": "revoked_token",
        "method": "GET",
        "path": "/v1/leads",
        "request_id": "req-1",
    }
