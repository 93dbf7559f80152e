"""Finding people by who they are, over HTTP: lookups of leads and contacts by email (the
service role sees ids and minimal fields only)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.conftest import LiveServer, problem


def capture(client: httpx.Client, **fields: Any) -> dict[str, Any]:
    body = {"name": "Ada Lovelace", "email": "ada@acme.example", "company": "Acme", "source": "web_form", **fields}
    response = client.post("/v1/leads", json=body)
    assert response.status_code == 201, response.text
    answer: dict[str, Any] = response.json()
    return answer


def test_leads_and_contacts_are_looked_up_by_email_compared_normalised(live: LiveServer) -> None:
    # given two leads, one of them converted into a contact, and somebody else
    admin = live.client()
    ada = capture(admin, email="Ada@Acme.example")
    capture(admin, name="Ada Plus", email="ada+news@acme.example")
    other = capture(admin, name="Grace Hopper", email="grace@navy.example")
    converted = admin.post(f"/v1/leads/{other['id']}/convert", json={"deal_value": 100})
    assert converted.status_code == 200, converted.text
    position = converted.json()["position"]

    # when they are looked up with another case and spaces around the address
    leads = admin.get("/v1/leads", params={"email": "  ADA@acme.EXAMPLE ", "min_position": position})
    contacts = admin.get("/v1/contacts", params={"email": "grace@NAVY.example", "min_position": position})

    # then exactly the people with that address are found (a plus-address is another address)
    assert leads.status_code == 200, leads.text
    assert [item["id"] for item in leads.json()["items"]] == [ada["id"]]
    assert leads.json()["items"][0]["name"] == "Ada Lovelace"
    assert [item["id"] for item in contacts.json()["items"]] == [converted.json()["contact_id"]]
    assert admin.get("/v1/contacts", params={"email": "ada@acme.example"}).json()["items"] == []


def test_a_service_looks_people_up_by_email_and_sees_no_personal_data(live: LiveServer) -> None:
    admin, service = live.client(), live.client("forms", "service")
    ada = capture(admin, phone="+44 20 7946 0018", campaign="spring")
    position = admin.post(f"/v1/leads/{ada['id']}/convert", json={"deal_value": 100}).json()["position"]
    lead_two = capture(admin, name="Ada L.", email="ada@acme.example")

    leads = service.get("/v1/leads", params={"email": "ada@acme.example", "min_position": lead_two["position"]})
    contacts = service.get("/v1/contacts", params={"email": "ada@acme.example", "min_position": position})

    assert leads.status_code == 200, leads.text
    items = leads.json()["items"]
    assert {item["id"] for item in items} == {ada["id"], lead_two["id"]}
    for item in items:
        assert item["name"] is None and item["campaign"] is None and item["owner"] is None
        assert item["stage"] in {"new", "converted"}
    [contact] = contacts.json()["items"]
    assert (contact["name"], contact["email"], contact["phone"], contact["company"]) == (None, None, None, None)
    assert contact["lead_id"] == ada["id"]
    # and a service may not list without naming the email
    problem(service.get("/v1/leads"), 403)
    problem(service.get("/v1/contacts"), 403)


def test_a_lookup_with_something_that_is_no_email_address_is_refused(live: LiveServer) -> None:
    body = problem(live.client().get("/v1/leads", params={"email": "not-an-address"}), 422)
    assert "email" in str(body)
