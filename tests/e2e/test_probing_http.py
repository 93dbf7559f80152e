"""What a caller can learn about records that are not theirs to read, end to end: another user's
idempotency key finds nothing of the first user's, and a service token (which may write to leads
and contacts but not read them) never learns a record's version or state from a refusal."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import LEAD, LiveServer, problem

Denials = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def denials(caplog: pytest.LogCaptureFixture) -> Iterator[Denials]:
    with caplog.at_level(logging.WARNING, logger="crm.auth"):
        yield lambda: [json.loads(r.getMessage()) for r in caplog.records if r.name == "crm.auth"]


def as_missing(response: httpx.Response, kind: str, record_id: str) -> None:
    """The answer is exactly what a record that does not exist gets."""
    body = problem(response, 404)
    assert body["type"].endswith("/not-found") and body["title"] == "Not found"
    assert body["detail"] == f"{kind} {record_id} not found"
    assert set(body) <= {"type", "title", "status", "detail", "instance", "request_id"}


# --- idempotency keys are each caller's own ----------------------------------------------------


def test_another_users_same_idempotency_key_creates_their_own_lead_and_learns_nothing(live: LiveServer) -> None:
    alice, bob = live.client("alice", "manager"), live.client("bob", "manager")
    key = {"Idempotency-Key": "form-submission-77"}
    alices = alice.post("/v1/leads", json=LEAD, headers=key)
    assert alices.status_code == 201

    bobs = bob.post("/v1/leads", json={**LEAD, "name": "Grace Hopper"}, headers=key)

    assert bobs.status_code == 201, bobs.text
    assert bobs.json()["id"] != alices.json()["id"] and alices.json()["id"] not in bobs.text
    assert bob.get(bobs.headers["Location"]).json()["name"] == "Grace Hopper"
    assert alice.get(alices.headers["Location"]).json()["name"] == "Ada Lovelace"
    # each one's retry finds their own lead
    retried = bob.post("/v1/leads", json={**LEAD, "name": "Grace Hopper"}, headers=key)
    assert retried.status_code == 200 and retried.json()["id"] == bobs.json()["id"]
    assert alice.post("/v1/leads", json=LEAD, headers=key).json()["id"] == alices.json()["id"]


def test_reusing_ones_own_key_differently_names_the_fields_to_that_user_only(live: LiveServer) -> None:
    alice = live.client("alice", "manager")
    key = {"Idempotency-Key": "signup-9"}
    first = alice.post("/v1/contacts", json={"name": "Linus Torvalds", "email": "linus@example.org"}, headers=key)

    again = alice.post("/v1/contacts", json={"name": "Linus T.", "email": "linus@example.org"}, headers=key)
    other = live.client("shop", "service").post(
        "/v1/contacts", json={"name": "Linus T.", "email": "linus@example.org"}, headers=key
    )

    body = problem(again, 409)
    assert body["differing_fields"] == ["name"] and body["existing_id"] == first.json()["id"]
    assert other.status_code == 201 and first.json()["id"] not in other.text


# --- a service token probing leads and contacts -------------------------------------------------


def test_a_service_learns_no_version_from_a_stale_if_match(live: LiveServer, denials: Denials) -> None:
    admin, service = live.client(), live.client("marketing-bot", "service")
    lead_id = admin.post("/v1/leads", json=LEAD).json()["id"]
    version = admin.get(f"/v1/leads/{lead_id}").json()["version"]
    missing_id = str(uuid.uuid4())
    head = live.head()

    probe = service.post(f"/v1/leads/{lead_id}/interactions", json={"kind": "web_visit"}, headers={"If-Match": '"1"'})
    missing = service.post(f"/v1/leads/{missing_id}/interactions", json={"kind": "web_visit"})

    as_missing(probe, "lead", lead_id)
    as_missing(missing, "lead", missing_id)
    assert "version" not in probe.text
    assert live.head() == head
    assert [(d["reason"], d["user"], d.get("resource")) for d in denials()] == [
        ("may_not_read", "marketing-bot", lead_id)
    ]
    # a caller who may read the lead still gets the conflict with the versions
    conflict = problem(
        admin.post(f"/v1/leads/{lead_id}/stage", json={"stage": "contacted"}, headers={"If-Match": '"1"'}), 409
    )
    assert (conflict["expected_version"], conflict["current_version"]) == (1, version)
    # and the service's own writes with the right version, or none, go through
    right = service.post(
        f"/v1/leads/{lead_id}/interactions", json={"kind": "web_visit"}, headers={"If-Match": f'"{version}"'}
    )
    assert right.status_code == 200, right.text


def test_a_service_learns_nothing_of_a_closed_lead(live: LiveServer) -> None:
    admin, service = live.client(), live.client("marketing-bot", "service")
    lead_id = admin.post("/v1/leads", json=LEAD).json()["id"]
    assert admin.post(f"/v1/leads/{lead_id}/disqualify", json={"reason": "went with a rival"}).status_code == 200
    head = live.head()

    probe = service.post(f"/v1/leads/{lead_id}/interactions", json={"kind": "email_click"})

    as_missing(probe, "lead", lead_id)
    assert "disqualified" not in probe.text and "rival" not in probe.text
    assert live.head() == head
    closed = problem(admin.post(f"/v1/leads/{lead_id}/interactions", json={"kind": "call"}), 409)
    assert "disqualified" in closed["detail"]


def test_a_service_learns_nothing_of_a_contact_from_a_refused_write(live: LiveServer) -> None:
    admin, shop = live.client(), live.client("shop", "service")
    lead_id = admin.post("/v1/leads", json=LEAD).json()["id"]
    contact_id = admin.post(f"/v1/leads/{lead_id}/convert", json={"deal_value": 100}).json()["contact_id"]
    assert admin.post(f"/v1/contacts/{contact_id}/purchases", json={"order_id": "o-1", "amount": 500}).is_success
    head = live.head()

    stale = shop.post(f"/v1/contacts/{contact_id}/interactions", json={"kind": "support"}, headers={"If-Match": '"1"'})
    duplicate = shop.post(f"/v1/contacts/{contact_id}/purchases", json={"order_id": "o-1", "amount": 500})
    before = shop.post(
        f"/v1/contacts/{contact_id}/purchases",
        json={"order_id": "o-2", "amount": 500, "occurred_at": "2001-01-01T00:00:00Z"},
    )

    for response in (stale, duplicate, before):
        as_missing(response, "contact", contact_id)
    assert live.head() == head
    # the same refusals, to a caller who may read the contact, say what is wrong
    assert (
        "already recorded"
        in problem(admin.post(f"/v1/contacts/{contact_id}/purchases", json={"order_id": "o-1", "amount": 500}), 409)[
            "detail"
        ]
    )
