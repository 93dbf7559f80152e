"""An analyst reads every route they may with the emails and phone numbers written inside free
text masked (an interaction's detail, a reason, an interest, a company), while an admin reads
the same text as it was written."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.conftest import LEAD, LiveServer

DETAIL = "Called +44 20 7946 0018; write to ada.private@home.example. Budget 1200 USD, demo on 2026-03-02."
SECRETS = ("ada.private@", "7946 0018", "07700 900461", "555-123-4567", "ada.backup@")
"""What must never show, written as it was sent: a bare "7946" or "0018" would also match, by
chance, a digit run inside an id or a recorded time of the same answer."""
"""What an analyst must never read of the free text below (the masked forms keep the domain of an
email address, as in the email field, but this one's local part and every phone's digits go)."""


def settled(client: httpx.Client, path: str, position: int, **params: Any) -> Any:
    response = client.get(path, params={**params, "min_position": position})
    assert response.status_code == 200, response.text
    return response.json()


def test_an_analyst_sees_no_email_or_phone_written_inside_free_text_and_an_admin_sees_them(live: LiveServer) -> None:
    admin, analyst = live.client(), live.client("ana", "analyst")
    # given a lead with free text holding emails and phone numbers, a disqualified one, and a contact
    lead_id = admin.post("/v1/leads", json={**LEAD, "company": "Acme (ada.backup@acme.example)"}).json()["id"]
    assert admin.post(f"/v1/leads/{lead_id}/interactions", json={"kind": "call", "detail": DETAIL}).is_success
    lost = admin.post("/v1/leads", json={**LEAD, "email": "bob@acme.example"}).json()["id"]
    reason = {"reason": "asked not to be called on 07700 900461 again"}
    assert admin.post(f"/v1/leads/{lost}/disqualify", json=reason).is_success
    contact_id = admin.post(f"/v1/leads/{lead_id}/convert", json={"deal_value": 100}).json()["contact_id"]
    support = {"kind": "support", "detail": "mail from ada.private@home.example"}
    assert admin.post(f"/v1/contacts/{contact_id}/interactions", json=support).is_success
    again = admin.post(f"/v1/contacts/{contact_id}/reactivate", json={"interest": "add-on, call 555-123-4567"})
    new_lead, position = again.json()["lead_id"], again.json()["position"]

    # when the analyst reads every route that shows them
    answers = {
        "lead": analyst.get(f"/v1/leads/{lead_id}"),
        "lead history": analyst.get(f"/v1/leads/{lead_id}/history"),
        "lost lead": analyst.get(f"/v1/leads/{lost}"),
        "lost lead history": analyst.get(f"/v1/leads/{lost}/history"),
        "contact": analyst.get(f"/v1/contacts/{contact_id}"),
        "contact history": analyst.get(f"/v1/contacts/{contact_id}/history"),
        "reactivation lead": analyst.get(f"/v1/leads/{new_lead}"),
        "reactivation lead history": analyst.get(f"/v1/leads/{new_lead}/history"),
    }
    lists = {
        "lead list": settled(analyst, "/v1/leads", position, limit=200),
        "contact list": settled(analyst, "/v1/contacts", position, limit=200),
    }

    # then none of them holds the addresses or the numbers, and the rest of the text is there
    for route, response in answers.items():
        assert response.status_code == 200, (route, response.text)
        assert not [s for s in SECRETS if s in response.text], (route, response.text)
    for route, page in lists.items():
        assert page["items"] and not [s for s in SECRETS if s in str(page)], (route, page)
    trail = answers["lead history"].json()["entries"]
    logged = next(e for e in trail if e["event_type"] == "lead.interaction_logged")
    assert logged["data"]["detail"] == "Called ***18; write to a***@home.example. Budget 1200 USD, demo on 2026-03-02."
    assert answers["lead"].json()["company"] == "Acme (a***@acme.example)"
    assert answers["lost lead"].json()["disqualified_reason"] == "asked not to be called on ***61 again"
    assert answers["reactivation lead"].json()["interest"] == "add-on, call ***67"
    lost_item = next(item for item in lists["lead list"]["items"] if item["id"] == lost)
    assert lost_item["disqualified_reason"] == "asked not to be called on ***61 again"
    assert [c["company"] for c in lists["contact list"]["items"]] == ["Acme (a***@acme.example)"]

    # and an admin reads the same text as it was written
    admin_trail = admin.get(f"/v1/leads/{lead_id}/history").json()["entries"]
    assert next(e for e in admin_trail if e["event_type"] == "lead.interaction_logged")["data"]["detail"] == DETAIL
    assert admin.get(f"/v1/leads/{lost}").json()["disqualified_reason"] == reason["reason"]
    assert admin.get(f"/v1/leads/{new_lead}").json()["interest"] == "add-on, call 555-123-4567"
    assert "ada.private@home.example" in admin.get(f"/v1/contacts/{contact_id}/history").text
    assert settled(admin, "/v1/contacts", position)["items"][0]["company"] == "Acme (ada.backup@acme.example)"
