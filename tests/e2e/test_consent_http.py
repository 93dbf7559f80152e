"""Consent over HTTP: a lead's consent route, the refusal of an outbound email after a
withdrawal, bad input, and the consent a conversion carries over to the contact."""

from __future__ import annotations

import httpx

from tests.e2e.conftest import LEAD, LiveServer, problem


def a_lead(client: httpx.Client) -> str:
    captured = client.post("/v1/leads", json=LEAD)
    assert captured.status_code == 201, captured.text
    return str(captured.json()["id"])


def test_a_lead_consent_is_stated_read_back_and_audited(live: LiveServer) -> None:
    alice = live.client("alice", "rep")
    lead_id = a_lead(alice)
    assert alice.get(f"/v1/leads/{lead_id}").json()["consents"] == {}
    etag = alice.get(f"/v1/leads/{lead_id}").headers["ETag"]

    granted = alice.post(
        f"/v1/leads/{lead_id}/consent", json={"channel": "email", "granted": True}, headers={"If-Match": etag}
    )
    withdrawn = alice.post(f"/v1/leads/{lead_id}/consent", json={"channel": "sms", "granted": False})

    assert granted.status_code == 200, granted.text
    assert (
        granted.json()["version"] == int(etag.strip('"')) + 1
        and granted.headers["ETag"] == f'"{granted.json()["version"]}"'
    )
    assert withdrawn.status_code == 200 and withdrawn.json()["position"] == live.head()
    lead = alice.get(f"/v1/leads/{lead_id}").json()
    assert lead["consents"] == {"email": True, "sms": False}  # phone and profiling never stated: absent
    trail = alice.get(f"/v1/leads/{lead_id}/history").json()["entries"]
    assert [(e["event_type"], e["data"]) for e in trail[-2:]] == [
        ("lead.consent_changed", {"channel": "email", "granted": True, "carried_from": None}),
        ("lead.consent_changed", {"channel": "sms", "granted": False, "carried_from": None}),
    ]
    # stating it again is a broken rule; a stale If-Match a conflict
    again = problem(alice.post(f"/v1/leads/{lead_id}/consent", json={"channel": "sms", "granted": False}), 409)
    assert again["type"].endswith("/business-rule") and "already withdrawn" in again["detail"]
    stale = alice.post(
        f"/v1/leads/{lead_id}/consent", json={"channel": "phone", "granted": True}, headers={"If-Match": etag}
    )
    assert problem(stale, 409)["type"].endswith("/version-conflict")


def test_an_email_sent_after_a_withdrawal_is_409_consent_withdrawn_and_stores_nothing(live: LiveServer) -> None:
    admin = live.client()
    lead_id = a_lead(admin)
    # never stated: a manual log of an email we sent is allowed
    assert admin.post(f"/v1/leads/{lead_id}/interactions", json={"kind": "email_sent"}).status_code == 200
    assert admin.post(f"/v1/leads/{lead_id}/consent", json={"channel": "email", "granted": False}).status_code == 200
    before = admin.get(f"/v1/leads/{lead_id}").json()
    head = live.head()

    refused = problem(
        admin.post(f"/v1/leads/{lead_id}/interactions", json={"kind": "email_sent", "detail": "promo"}), 409
    )

    assert refused["type"].endswith("/consent-withdrawn") and refused["title"] == "Consent withdrawn"
    assert "consent for email was withdrawn" in refused["detail"]
    assert live.head() == head
    assert admin.get(f"/v1/leads/{lead_id}").json()["interaction_count"] == before["interaction_count"] == 1
    # the person's own reply is still theirs to send, and it raises the score
    reply = admin.post(f"/v1/leads/{lead_id}/interactions", json={"kind": "email_reply"})
    assert reply.status_code == 200
    assert admin.get(f"/v1/leads/{lead_id}").json()["score"] > before["score"]

    # the same rule on a contact
    contact_id = admin.post("/v1/contacts", json={"name": "Grace Hopper", "email": "grace@navy.example"}).json()["id"]
    assert admin.post(f"/v1/contacts/{contact_id}/consent", json={"channel": "email", "granted": False}).is_success
    head = live.head()
    on_contact = problem(admin.post(f"/v1/contacts/{contact_id}/interactions", json={"kind": "email_sent"}), 409)
    assert on_contact["type"].endswith("/consent-withdrawn")
    assert live.head() == head


def test_bad_consent_input_is_422_naming_the_field_and_stores_nothing(live: LiveServer) -> None:
    admin = live.client()
    lead_id = a_lead(admin)
    head = live.head()

    for payload, field in [
        ({"channel": "carrier_pigeon", "granted": True}, "channel"),
        ({"channel": "email", "granted": "yes"}, "granted"),
        ({"channel": "email"}, "granted"),
        ({"channel": "email", "granted": True, "until": "forever"}, "until"),
    ]:
        body = problem(admin.post(f"/v1/leads/{lead_id}/consent", json=payload), 422)
        assert body["type"].endswith("/validation")
        assert field in [e["field"] for e in body["errors"]], (payload, body["errors"])
    unknown_kind = problem(admin.post(f"/v1/leads/{lead_id}/interactions", json={"kind": "email_bounced"}), 422)
    assert [e["field"] for e in unknown_kind["errors"]] == ["kind"]

    assert live.head() == head
    assert admin.get(f"/v1/leads/{lead_id}").json()["consents"] == {}


def test_who_may_state_a_lead_consent_follows_the_change_consent_permission(live: LiveServer) -> None:
    alice = live.client("alice", "rep")
    bob = live.client("bob", "rep")
    lead_id = a_lead(alice)
    body = {"channel": "email", "granted": True}

    assert live.client("maria", "manager").post(f"/v1/leads/{lead_id}/consent", json=body).status_code == 200
    assert problem(bob.post(f"/v1/leads/{lead_id}/consent", json=body), 404)  # not bob's lead
    assert problem(live.client("ann", "analyst").post(f"/v1/leads/{lead_id}/consent", json=body), 403)
    assert problem(live.client("bot", "service").post(f"/v1/leads/{lead_id}/consent", json=body), 403)
    assert alice.get(f"/v1/leads/{lead_id}").json()["consents"] == {"email": True}


def test_a_conversion_carries_the_lead_consent_to_the_contact_and_its_features(live: LiveServer) -> None:
    admin = live.client()
    lead_id = a_lead(admin)
    assert admin.post(f"/v1/leads/{lead_id}/consent", json={"channel": "email", "granted": False}).is_success
    assert admin.post(f"/v1/leads/{lead_id}/consent", json={"channel": "sms", "granted": True}).is_success
    head = live.head()

    won = admin.post(f"/v1/leads/{lead_id}/convert", json={"deal_value": 2_400_000})

    assert won.status_code == 200, won.text
    contact_id = won.json()["contact_id"]
    assert won.json()["position"] == head + 4 == live.head()  # Converted, Created, 2 x ConsentChanged
    assert admin.get(f"/v1/contacts/{contact_id}").json()["consents"] == {"email": False, "sms": True}
    features = admin.get(f"/v1/contacts/{contact_id}/features", params={"min_position": won.json()["position"]})
    assert features.status_code == 200, features.text
    assert features.json()["consent"] == {"email": False, "sms": True}
    refused = admin.post(f"/v1/contacts/{contact_id}/interactions", json={"kind": "email_sent"})
    assert problem(refused, 409)["type"].endswith("/consent-withdrawn")
