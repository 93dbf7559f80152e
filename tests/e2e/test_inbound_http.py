"""Finding people by who they are, over HTTP: lookups of leads and contacts by email (the
service role sees ids and minimal fields only), and inbound capture deduplicating on them."""

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


# --- inbound leads ---------------------------------------------------------------------------


def submit(client: httpx.Client, **fields: Any) -> httpx.Response:
    body = {"name": "Ada Lovelace", "email": "ada@acme.example", "company": "Acme", **fields}
    return client.post("/v1/inbound/leads", json=body)


def test_a_form_for_a_new_person_captures_a_lead_and_a_second_one_lands_on_it(live: LiveServer) -> None:
    forms, admin = live.client("forms", "service"), live.client()

    first = submit(forms, country="GB", phone="020 7946 0018", message="call me")
    again = submit(forms, email=" ADA@acme.example ", message="still interested")
    by_phone = submit(forms, email="ada.private@home.example", phone="+44 20 7946 0018")

    assert first.status_code == 201, first.text
    lead_id = first.json()["id"]
    assert first.headers["Location"] == f"/v1/leads/{lead_id}"
    assert (first.json()["outcome"], first.json()["matched_by"]) == ("lead_created", None)
    assert again.status_code == 200, again.text
    assert (again.json()["outcome"], again.json()["id"], again.json()["matched_by"]) == (
        "logged_on_lead",
        lead_id,
        "email",
    )
    assert (by_phone.json()["id"], by_phone.json()["matched_by"]) == (lead_id, "phone")
    history = admin.get(f"/v1/leads/{lead_id}/history").json()["entries"]
    details = [e["data"]["detail"] for e in history if e["event_type"] == "lead.interaction_logged"]
    kinds = {e["data"]["kind"] for e in history if e["event_type"] == "lead.interaction_logged"}
    assert (details, kinds) == (["still interested", None], {"form_submit"})


def test_a_form_of_a_contact_logs_on_the_contact_and_reactivates_it_for_a_new_interest(live: LiveServer) -> None:
    forms, admin = live.client("forms", "service"), live.client()
    lead = capture(admin)
    contact_id = admin.post(f"/v1/leads/{lead['id']}/convert", json={"deal_value": 100}).json()["contact_id"]

    plain = submit(forms, message="a question")
    interested = submit(forms, interest="analytics add-on")

    assert plain.status_code == 200, plain.text
    assert (plain.json()["outcome"], plain.json()["kind"], plain.json()["id"]) == (
        "logged_on_contact",
        "contact",
        contact_id,
    )
    assert interested.json()["outcome"] == "contact_reactivated"
    new_lead = admin.get(f"/v1/leads/{interested.json()['lead_id']}").json()
    assert (new_lead["source"], new_lead["contact_id"], new_lead["interest"]) == (
        "reactivation",
        contact_id,
        "analytics add-on",
    )
    # and the next form lands on that open reactivation lead
    assert submit(forms).json()["id"] == interested.json()["lead_id"]


def test_a_retried_form_with_an_idempotency_key_answers_the_same_lead(live: LiveServer) -> None:
    forms = live.client("forms", "service")

    form, key = {"name": "Ada", "email": "ada@acme.example"}, {"Idempotency-Key": "f-1"}

    first = forms.post("/v1/inbound/leads", json=form, headers=key)
    retry = forms.post("/v1/inbound/leads", json=form, headers=key)

    assert first.status_code == 201, first.text
    assert retry.status_code == 200, retry.text
    assert (retry.json()["id"], retry.json()["outcome"], retry.json()["position"]) == (
        first.json()["id"],
        "lead_created",
        None,
    )


def test_a_retried_form_that_reactivated_a_contact_answers_the_same_reactivation(live: LiveServer) -> None:
    forms, admin = live.client("forms", "service"), live.client()
    lead = capture(admin)
    admin.post(f"/v1/leads/{lead['id']}/convert", json={"deal_value": 100})
    form, key = {"name": "Ada", "email": "ada@acme.example", "interest": "add-on"}, {"Idempotency-Key": "f-2"}

    first = forms.post("/v1/inbound/leads", json=form, headers=key)
    retry = forms.post("/v1/inbound/leads", json=form, headers=key)

    assert first.json()["outcome"] == retry.json()["outcome"] == "contact_reactivated"
    assert retry.json()["lead_id"] == first.json()["lead_id"] and retry.json()["position"] is None
    reactivation_lead = admin.get(f"/v1/leads/{first.json()['lead_id']}/history").json()["entries"]
    assert not [e for e in reactivation_lead if e["event_type"] == "lead.interaction_logged"]


def test_a_retried_form_that_landed_on_a_known_person_appends_its_interaction_once(live: LiveServer) -> None:
    # given an open lead and a contact the forms know by email
    forms, admin = live.client("forms", "service"), live.client()
    lead = capture(admin)
    grace = capture(admin, name="Grace Hopper", email="grace@navy.example")
    contact_id = admin.post(f"/v1/leads/{grace['id']}/convert", json={"deal_value": 100}).json()["contact_id"]

    for email, path in (
        ("ada@acme.example", f"/v1/leads/{lead['id']}"),
        ("grace@navy.example", f"/v1/contacts/{contact_id}"),
    ):
        form, key = {"name": "Someone", "email": email}, {"Idempotency-Key": f"f-{email}"}
        # when a keyed form lands on them and is retried
        first = forms.post("/v1/inbound/leads", json=form, headers=key)
        retry = forms.post("/v1/inbound/leads", json=form, headers=key)

        # then the retry answers the same record, appends nothing, and says it is a replay
        assert first.status_code == retry.status_code == 200, first.text
        assert (first.headers["Idempotent-Replayed"], retry.headers["Idempotent-Replayed"]) == ("false", "true")
        assert retry.headers["Location"] == first.headers["Location"] == path
        assert retry.json()["id"] == first.json()["id"] and retry.json()["position"] is None
        history = admin.get(f"{path}/history").json()["entries"]
        assert len([e for e in history if e["event_type"].endswith(".interaction_logged")]) == 1
        # and another submission of the person still lands
        again = forms.post("/v1/inbound/leads", json=form, headers={"Idempotency-Key": f"g-{email}"})
        assert again.headers["Idempotent-Replayed"] == "false" and again.json()["position"] is not None


def test_inbound_capture_is_for_services_and_refuses_a_form_without_email_or_phone(live: LiveServer) -> None:
    problem(submit(live.client("rep-x", "rep")), 403)
    problem(submit(live.client("ann", "analyst")), 403)
    body = problem(live.client("forms", "service").post("/v1/inbound/leads", json={"name": "Nobody"}), 422)
    assert "email or a phone" in str(body)


# --- inbound email events --------------------------------------------------------------------


def test_an_email_opened_or_clicked_is_logged_on_the_person_with_that_address(live: LiveServer) -> None:
    forms, admin = live.client("tools", "service"), live.client()
    lead = capture(admin)
    grace = capture(admin, name="Grace Hopper", email="grace@navy.example")
    contact_id = admin.post(f"/v1/leads/{grace['id']}/convert", json={"deal_value": 100}).json()["contact_id"]

    opened = forms.post("/v1/inbound/interactions", json={"email": "ADA@acme.example", "kind": "email_open"})
    clicked = forms.post(
        "/v1/inbound/interactions",
        json={"email": "grace@navy.example", "kind": "email_click", "detail": "pricing link"},
    )

    assert opened.status_code == 200, opened.text
    assert (opened.json()["kind"], opened.json()["id"], opened.json()["outcome"]) == (
        "lead",
        lead["id"],
        "logged_on_lead",
    )
    assert (clicked.json()["kind"], clicked.json()["id"]) == ("contact", contact_id)
    lead_events = admin.get(f"/v1/leads/{lead['id']}/history").json()["entries"]
    assert [e["data"]["kind"] for e in lead_events if e["event_type"] == "lead.interaction_logged"] == ["email_open"]
    assert any(e["event_type"] == "lead.scored" and e["version"] > 2 for e in lead_events)  # it counts for the score
    contact_events = admin.get(f"/v1/contacts/{contact_id}/history").json()["entries"]
    [logged] = [e["data"] for e in contact_events if e["event_type"] == "contact.interaction_logged"]
    assert logged == {"kind": "email_click", "detail": "pricing link"}


def test_an_email_event_for_an_unknown_address_is_a_clear_404_and_a_bad_kind_a_422(live: LiveServer) -> None:
    tools = live.client("tools", "service")

    unknown = problem(
        tools.post("/v1/inbound/interactions", json={"email": "who@nowhere.example", "kind": "email_open"}), 404
    )
    bad_kind = problem(
        tools.post("/v1/inbound/interactions", json={"email": "ada@acme.example", "kind": "meeting"}), 422
    )

    assert unknown["type"] == "/problems/unknown-email"
    assert "email address" in unknown["detail"]
    assert [e["field"] for e in bad_kind["errors"]] == ["kind"]
    problem(
        live.client("ann", "analyst").post(
            "/v1/inbound/interactions", json={"email": "a@b.example", "kind": "email_open"}
        ),
        403,
    )


# --- duplicate candidates --------------------------------------------------------------------


def test_duplicate_leads_are_listed_with_reasons_and_confidence_the_surest_first(live: LiveServer) -> None:
    admin = live.client()
    ada = capture(admin, email="ada@acme.example")
    ada_again = capture(admin, name="A. Lovelace", email="ADA@acme.example ")
    babbage = capture(admin, name="Charles Babbage", email="cb@engines.example", company="Engines Ltd")
    babbage_again = capture(admin, name="Charles Babagge", email="charles@home.example", company="engines")
    last = capture(admin, name="Grace Hopper", email="grace@navy.example", phone="+1 555 010 0000", company="Navy")

    first_page = admin.get("/v1/leads/duplicates", params={"limit": 1, "min_position": last["position"]})
    assert first_page.status_code == 200, first_page.text
    rest = admin.get("/v1/leads/duplicates", params={"cursor": first_page.json()["next_cursor"]})

    [by_email] = first_page.json()["items"]
    [by_name] = rest.json()["items"]
    assert rest.json()["next_cursor"] is None
    assert ({by_email["first"]["id"], by_email["second"]["id"]}, by_email["reason"]) == (
        {ada["id"], ada_again["id"]},
        "email",
    )
    assert ({by_name["first"]["id"], by_name["second"]["id"]}, by_name["reasons"]) == (
        {babbage["id"], babbage_again["id"]},
        ["name_company"],
    )
    assert 1 >= by_email["confidence"] > by_name["confidence"] > 0
    assert by_name["name_similarity"] >= 0.85

    # an analyst sees them masked; a contact list of duplicates is empty here; a bad cursor is a 422
    masked = live.client("ann", "analyst").get("/v1/leads/duplicates").json()["items"][0]
    assert masked["first"]["email"] == "a***@acme.example" and "***" in masked["first"]["name"]
    assert admin.get("/v1/contacts/duplicates").json()["items"] == []
    body = problem(admin.get("/v1/leads/duplicates", params={"cursor": "bm90LWEta2V5"}), 422)
    assert [e["field"] for e in body["errors"]] == ["cursor"]
    problem(live.client("forms", "service").get("/v1/leads/duplicates"), 403)


def test_a_rep_sees_duplicate_pairs_of_their_own_leads_only(live: LiveServer) -> None:
    admin = live.client()
    capture(admin, owner="alice")
    capture(admin, name="Ada L.", owner="alice")
    last = capture(admin, name="Ada K.", owner="bob")

    pairs = live.client("alice", "rep").get("/v1/leads/duplicates", params={"min_position": last["position"]})

    assert pairs.status_code == 200, pairs.text
    assert len(pairs.json()["items"]) == 1  # of the three pairs sharing the email, one is all hers
    assert len(admin.get("/v1/leads/duplicates").json()["items"]) == 3


def test_duplicate_contacts_are_found_by_phone_in_e164_form(live: LiveServer) -> None:
    admin = live.client()
    first = admin.post("/v1/contacts", json={"name": "Grace Hopper", "phone": "+1 (555) 010-0000"})
    second = admin.post("/v1/contacts", json={"name": "G. Hopper", "phone": "+1 555 010 0000"})
    assert first.status_code == second.status_code == 201, (first.text, second.text)

    pairs = admin.get("/v1/contacts/duplicates", params={"min_position": second.json()["position"]}).json()["items"]

    assert [(p["first"]["id"], p["second"]["id"], p["reason"]) for p in pairs] == [
        (first.json()["id"], second.json()["id"], "phone")
    ]
    assert pairs[0]["first"]["phone"] == "+15550100000"


# --- conversion links a second lead to the existing contact ------------------------------------


def test_converting_a_second_lead_of_a_contact_links_it_to_that_contact(live: LiveServer) -> None:
    admin = live.client()
    first = capture(admin)
    contact_id = admin.post(f"/v1/leads/{first['id']}/convert", json={"deal_value": 100}).json()["contact_id"]
    second = capture(admin, name="Ada L.", email="ADA@acme.example")

    converted = admin.post(f"/v1/leads/{second['id']}/convert", json={"deal_value": 250})

    assert converted.status_code == 200, converted.text
    assert converted.json()["contact_id"] == contact_id
    lead = admin.get(f"/v1/leads/{second['id']}").json()
    assert (lead["stage"], lead["converted_contact_id"]) == ("converted", contact_id)
    history = admin.get(f"/v1/contacts/{contact_id}/history").json()["entries"]
    assert (history[-1]["event_type"], history[-1]["data"]) == ("contact.lead_linked", {"lead_id": second["id"]})
    contacts = admin.get(
        "/v1/contacts", params={"email": "ada@acme.example", "min_position": converted.json()["position"]}
    )
    assert [c["id"] for c in contacts.json()["items"]] == [contact_id]  # still one contact
