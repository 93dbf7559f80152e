"""What a caller can learn about records that are not theirs to read, end to end: another user's
idempotency key finds nothing of the first user's."""

from __future__ import annotations

from tests.e2e.conftest import LEAD, LiveServer, problem

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
