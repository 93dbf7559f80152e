"""The access log end to end: every read of a person's data through the API is an entry that an
admin reads back by the record it showed, newest first; only an admin may; the log itself holds
no personal data."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.conftest import LEAD, LEAD_PHONE_FORMS, LiveServer, problem

AUDIT = "/v1/audit/access"


def access_of(admin: httpx.Client, subject: str, **filters: Any) -> list[dict[str, Any]]:
    """Every entry of the access log about `subject`, two to a page, newest first."""
    entries: list[dict[str, Any]] = []
    params: dict[str, Any] = {"subject": subject, "limit": 2, **filters}
    while True:
        page = admin.get(AUDIT, params=params)
        assert page.status_code == 200, page.text
        entries += page.json()["items"]
        if page.json()["next_cursor"] is None:
            return entries
        params["cursor"] = page.json()["next_cursor"]


def who_how(entries: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    return [(e["user"], e["role"], e["method"], e["route"]) for e in entries]


def test_reads_by_a_rep_and_an_analyst_are_entries_an_admin_reads_back_by_subject(live: LiveServer) -> None:
    admin, alice, analyst = live.client(), live.client("alice", "rep"), live.client("ana", "analyst")
    # given a lead of alice's, converted into a contact
    lead_id = alice.post("/v1/leads", json=LEAD).json()["id"]
    other_lead = admin.post("/v1/leads", json={**LEAD, "owner": "bob"}).json()["id"]
    won = admin.post(f"/v1/leads/{lead_id}/convert", json={"deal_value": 100})
    contact_id, position = won.json()["contact_id"], won.json()["position"]

    # when the rep reads the lead and its history, and the analyst the lead, the lists and the contact
    rep_read = alice.get(f"/v1/leads/{lead_id}", headers={"X-Request-ID": "rep-read-1"})
    alice.get(f"/v1/leads/{lead_id}/history")
    analyst_read = analyst.get(f"/v1/leads/{lead_id}", headers={"X-Request-ID": "analyst-read-1"})
    analyst.get("/v1/leads", params={"min_position": position})
    analyst.get(f"/v1/contacts/{contact_id}")
    analyst.get(f"/v1/contacts/{contact_id}/history")
    analyst.get("/v1/contacts", params={"min_position": position})
    analyst.get("/v1/segments/prospects/members", params={"min_position": position})
    # (a read refused as another rep's lead shows nothing, so it is no entry)
    assert problem(alice.get(f"/v1/leads/{other_lead}"), 404)
    assert rep_read.status_code == analyst_read.status_code == 200

    # then the admin reads back who read the lead, newest first, with the request of each read
    lead_reads = access_of(admin, lead_id)
    assert who_how(lead_reads) == [
        ("ana", "analyst", "GET", "/v1/leads"),
        ("ana", "analyst", "GET", "/v1/leads/{lead_id}"),
        ("alice", "rep", "GET", "/v1/leads/{lead_id}/history"),
        ("alice", "rep", "GET", "/v1/leads/{lead_id}"),
    ]
    assert [e["request_id"] for e in lead_reads][1::2] == ["analyst-read-1", "rep-read-1"]
    assert all(e["subject_id"] == lead_id for e in lead_reads)
    # ...and who read the contact, through which routes
    assert who_how(access_of(admin, contact_id)) == [
        ("ana", "analyst", "GET", "/v1/segments/{name}/members"),
        ("ana", "analyst", "GET", "/v1/contacts"),
        ("ana", "analyst", "GET", "/v1/contacts/{contact_id}/history"),
        ("ana", "analyst", "GET", "/v1/contacts/{contact_id}"),
    ]
    # ...and the list read is one entry per lead it showed, bob's lead included
    assert who_how(access_of(admin, other_lead)) == [("ana", "analyst", "GET", "/v1/leads")]
    assert [e["subject_id"] for e in access_of(admin, other_lead, user="ana")] == [other_lead]
    assert access_of(admin, other_lead, user="alice") == []


def test_only_an_admin_reads_the_access_log(live: LiveServer) -> None:
    admin = live.client()
    lead_id = admin.post("/v1/leads", json=LEAD).json()["id"]
    admin.get(f"/v1/leads/{lead_id}")

    for role in ("manager", "rep", "analyst", "service"):
        refused = problem(live.client(f"a-{role}", role).get(AUDIT, params={"subject": lead_id}), 403)
        assert refused["type"].endswith("/forbidden"), role
    assert problem(live.client(None).get(AUDIT), 401)
    assert admin.get(AUDIT, params={"subject": lead_id}).json()["items"][0]["user"] == "root"


def test_the_access_log_holds_no_personal_data(live: LiveServer) -> None:
    admin, analyst = live.client(), live.client("ana", "analyst")
    lead_id = admin.post("/v1/leads", json=LEAD).json()["id"]
    admin.post(f"/v1/leads/{lead_id}/interactions", json={"kind": "call", "detail": "ada@acme.example"})
    for client in (admin, analyst):
        client.get(f"/v1/leads/{lead_id}")
        client.get(f"/v1/leads/{lead_id}/history")
    live.access_log.flush()

    # when the table itself is read, and the route answers
    rows = live.read_side.queries.store.fetch("SELECT * FROM crm_access_log")
    answered = admin.get(AUDIT).text

    # then neither holds a name, an email address or a phone number
    assert len(rows) == 4
    for text in (str(rows), answered):
        for personal in ("Ada", "Lovelace", "ada@", "acme.example", "Acme", *LEAD_PHONE_FORMS):
            assert personal not in text, (personal, text)


def test_bad_filters_and_cursors_are_422_naming_them(live: LiveServer) -> None:
    admin = live.client()
    for params, field in (
        ({"subject": "not-a-uuid"}, "subject"),
        ({"user": "bob smith"}, "user"),
        ({"cursor": "bm90LW91cnM"}, "cursor"),
        ({"limit": 0}, "limit"),
    ):
        assert [e["field"] for e in problem(admin.get(AUDIT, params=params), 422)["errors"]] == [field], params
