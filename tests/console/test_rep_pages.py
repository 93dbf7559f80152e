"""The console's rep pages as a browser without JavaScript sees them: converting a lead from its
page, a contact's page for each role (masking, owner scope), recording a purchase, search by
email, and the live facts of a lead's and a contact's page (what their poll answers)."""

from __future__ import annotations

import re
from uuid import UUID

from services.app.commands import ChangeConsent, ConvertLead, DisqualifyLead, LogInteraction
from tests.console.conftest import ALICE, Console, MakeConsole, csrf_of, sign_in
from tests.integration.factories import capture


def events_of(console: Console, aggregate_id: UUID) -> list[str]:
    return [e.event_type for e in console.crm.history(aggregate_id)]


def converted(console: Console) -> UUID:
    """Alice's lead, converted through the application: its contact."""
    result = console.crm.convert_lead(console.alices_lead, ConvertLead(deal_value=5000, currency="EUR"), ALICE)
    assert result.related_id is not None
    return result.related_id


def test_converting_a_lead_from_its_page_lands_on_the_new_contacts_page(console: Console) -> None:
    client, _ = console.signed_in()
    lead = console.alices_lead
    console.crm.change_lead_consent(lead, ChangeConsent(channel="email", granted=True), ALICE)
    page = client.get(f"/app/leads/{lead}").text
    assert "Convert (won)" in page
    response = client.post(
        f"/app/leads/{lead}/convert", data={"deal_value": "125000", "currency": "eur", "csrf_token": csrf_of(page)}
    )
    assert response.status_code == 303
    location = response.headers["location"]
    match = re.fullmatch(r"/app/contacts/([0-9a-f-]{36})\?min_position=\d+", location)
    assert match, location
    assert events_of(console, lead)[-1] == "lead.converted"
    contact = client.get(location)
    assert contact.status_code == 200
    assert "<h1>Ada Lovelace</h1>" in contact.text and "ada@acme.example" in contact.text
    assert re.search(r"<dt>Owner</dt><dd>alice</dd>", contact.text)
    assert re.search(r"<dt>email</dt><dd[^>]*>granted</dd>", contact.text)
    assert re.search(r"<dt>sms</dt><dd[^>]*>not asked</dd>", contact.text)
    assert '<span class="segment">prospects</span>' in contact.text
    assert "contact.created" not in contact.text and "created" in contact.text  # the timeline, without its prefix
    assert f"/app/contacts/{match.group(1)}/timeline?since=" in contact.text
    won = client.get(f"/app/leads/{lead}").text
    assert f'href="/app/contacts/{match.group(1)}"' in won and "Convert (won)" not in won


def test_a_conversion_form_error_shows_next_to_its_field_and_stores_nothing(console: Console) -> None:
    client, _ = console.signed_in()
    lead = console.alices_lead
    before = events_of(console, lead)
    csrf = csrf_of(client.get(f"/app/leads/{lead}").text)
    response = client.post(
        f"/app/leads/{lead}/convert", data={"deal_value": "12.50", "currency": "", "csrf_token": csrf}
    )
    assert response.status_code == 422
    assert re.search(r'id="convert-deal_value"[^>]*aria-invalid="true"', response.text)
    assert 'id="convert-deal_value-error">Input should be a valid integer' in response.text
    assert 'value="12.50"' in response.text  # what was typed is kept
    unknown = client.post(
        f"/app/leads/{lead}/convert", data={"deal_value": "100", "currency": "XYZ", "csrf_token": csrf}
    )
    assert unknown.status_code == 422 and 'id="convert-currency-error"' in unknown.text
    assert events_of(console, lead) == before


def test_converting_a_closed_lead_is_refused_above_the_form_and_stores_nothing(console: Console) -> None:
    client, _ = console.signed_in()
    lead = console.alices_lead
    csrf = csrf_of(client.get(f"/app/leads/{lead}").text)
    console.crm.disqualify_lead(lead, DisqualifyLead(reason="no budget"), ALICE)  # in another tab, say
    before = events_of(console, lead)
    response = client.post(f"/app/leads/{lead}/convert", data={"deal_value": "100", "csrf_token": csrf})
    assert response.status_code == 409
    error = re.search(r'<p class="error" id="convert--error">([^<]+)</p>\s*<form[^>]*/convert"', response.text)
    assert error, response.text
    assert events_of(console, lead) == before


def test_a_role_that_may_not_convert_is_not_offered_the_form_and_is_refused(console: Console) -> None:
    client, _ = console.signed_in("ann", "analyst")
    page = client.get(f"/app/leads/{console.alices_lead}").text
    assert "Convert (won)" not in page
    response = client.post(
        f"/app/leads/{console.alices_lead}/convert", data={"deal_value": "1", "csrf_token": csrf_of(page)}
    )
    assert response.status_code == 403
    assert events_of(console, console.alices_lead)[-1] != "lead.converted"


def test_a_rep_sees_only_the_contacts_of_their_own_leads(console: Console) -> None:
    contact = converted(console)
    bob, _ = console.signed_in("bob", "rep")
    assert bob.get(f"/app/contacts/{contact}").status_code == 404
    assert bob.get(f"/app/contacts/{contact}/timeline").status_code == 404
    manager, _ = console.signed_in("mia", "manager")
    assert manager.get(f"/app/contacts/{contact}").status_code == 200


def test_an_analyst_sees_a_contact_masked_as_the_api_masks_it_and_no_purchase_form(console: Console) -> None:
    contact = converted(console)
    token = console.tokens.issue("ann", "analyst")
    api = console.client().get(f"/v1/contacts/{contact}", headers={"Authorization": f"Bearer {token}"}).json()
    client = console.client()
    sign_in(client, token)
    page = client.get(f"/app/contacts/{contact}").text
    assert api["name"] == "A*** L***" and api["email"] == "a***@acme.example"
    assert f"<h1>{api['name']}</h1>" in page and api["email"] in page
    assert "Ada Lovelace" not in page and "ada@acme.example" not in page
    assert "Record a purchase" not in page


def test_recording_a_purchase_shows_it_with_the_lifetime_value_and_the_segments_it_leads_to(console: Console) -> None:
    contact = converted(console)
    client, _ = console.signed_in()
    page = client.get(f"/app/contacts/{contact}").text
    assert "No purchase yet." in page and "Record a purchase" in page
    response = client.post(
        f"/app/contacts/{contact}/purchases",
        data={
            "order_id": "A-10042",
            "amount": "150000",
            "currency": "EUR",
            "quantity": "2",
            "csrf_token": csrf_of(page),
        },
    )
    assert response.status_code == 303
    after = client.get(response.headers["location"]).text  # min_position: the segments have applied it
    assert "A-10042 × 2" in after and "150000 EUR" in after
    assert re.search(r"<dt>Lifetime value</dt><dd><span class=\"value\">150000 EUR</span>", after)
    segments = re.findall(r'<span class="segment">(\w+)</span>', after)
    assert segments == ["new_customers", "high_value"]
    assert events_of(console, contact)[-1] == "contact.purchase_recorded"


def test_a_purchase_form_error_shows_next_to_its_field_and_a_repeated_order_is_refused(console: Console) -> None:
    contact = converted(console)
    client, _ = console.signed_in()
    csrf = csrf_of(client.get(f"/app/contacts/{contact}").text)
    bad = client.post(f"/app/contacts/{contact}/purchases", data={"order_id": "", "amount": "-5", "csrf_token": csrf})
    assert bad.status_code == 422
    assert 'id="purchase-order_id-error">Field required' in bad.text
    assert re.search(r'id="purchase-amount"[^>]*aria-invalid="true"', bad.text)
    before = events_of(console, contact)
    assert before[-1] != "contact.purchase_recorded"
    order = {"order_id": "A-1", "amount": "100", "csrf_token": csrf}
    assert client.post(f"/app/contacts/{contact}/purchases", data=order).status_code == 303
    again = client.post(f"/app/contacts/{contact}/purchases", data=order)
    assert again.status_code == 409 and 'id="purchase--error"' in again.text
    assert events_of(console, contact).count("contact.purchase_recorded") == 1


def test_the_contact_poll_answers_204_until_the_contact_changes_and_then_its_timeline_and_facts(
    console: Console,
) -> None:
    contact = converted(console)
    client, _ = console.signed_in()
    page = client.get(f"/app/contacts/{contact}").text
    since = re.search(r"/contacts/[^/]+/timeline\?since=(\d+)", page)
    assert since, page
    path = f"/app/contacts/{contact}/timeline?since={since.group(1)}"
    assert client.get(path).status_code == 204
    console.crm.log_contact_interaction(contact, LogInteraction(kind="meeting", detail="renewal talk"), ALICE)
    changed = client.get(path)
    assert changed.status_code == 200 and "renewal talk" in changed.text
    assert re.search(r'<dl class="facts" id="contact-facts" hx-swap-oob="true">', changed.text)
    assert f"since={int(since.group(1)) + 1}" in changed.text


def test_a_contact_path_that_is_not_an_id_is_a_not_found_page(console: Console) -> None:
    client, _ = console.signed_in()
    assert client.get("/app/contacts/not-an-id").status_code == 404
    assert client.get(f"/app/contacts/{console.alices_lead}").status_code == 404  # a lead is no contact


def test_without_read_models_a_contact_page_says_so_and_still_reads_the_log(make_console: MakeConsole) -> None:
    console = make_console(read_models=False)
    client, _ = console.signed_in()
    alices = console.alices_lead
    csrf = csrf_of(client.get(f"/app/leads/{alices}").text)
    response = client.post(f"/app/leads/{alices}/convert", data={"deal_value": "100", "csrf_token": csrf})
    assert response.status_code == 303
    page = client.get(response.headers["location"]).text
    assert "Read models unavailable" in page and "Ada Lovelace" in page


def test_search_by_email_finds_a_reps_lead_and_its_contact_compared_normalised(console: Console) -> None:
    contact = converted(console)
    console.crm.capture_lead(capture(name="Ada Again", email="ada@acme.example", owner="alice"), ALICE)
    assert console.app.state.read_models.read_models.wait(console.crm.head_position(), 10)
    client, _ = console.signed_in()
    page = client.get("/app/search", params={"q": "  ADA@Acme.Example "}).text
    assert f'<a href="/app/contacts/{contact}">Ada Lovelace</a>' in page
    assert f'<a href="/app/leads/{console.alices_lead}">Ada Lovelace</a>' in page
    assert "Ada Again" in page and "3 found" in page
    assert "No lead or contact has that email." in client.get("/app/search", params={"q": "nobody@acme.example"}).text


def test_search_by_email_keeps_to_the_owner_scope_and_is_not_offered_to_a_role_that_sees_emails_masked(
    console: Console,
) -> None:
    converted(console)
    assert console.app.state.read_models.read_models.wait(console.crm.head_position(), 10)
    bob, _ = console.signed_in("bob", "rep")
    assert "0 found" in bob.get("/app/search", params={"q": "ada@acme.example"}).text
    assert "Grace Hopper" in bob.get("/app/search", params={"q": "grace@navy.example"}).text
    analyst, _ = console.signed_in("ann", "analyst")
    refused = analyst.get("/app/search", params={"q": "ada@acme.example"}).text
    assert "Search by email is not offered to a role that sees emails masked." in refused
    assert "/app/contacts/" not in refused and "/app/leads/" not in refused


def test_the_lead_poll_brings_the_new_score_stage_and_status_with_the_timeline(console: Console) -> None:
    client, _ = console.signed_in()
    lead = console.alices_lead
    page = client.get(f"/app/leads/{lead}").text
    score = re.search(r'<span class="score">(\d+)</span>', page)
    since = re.search(r"/timeline\?since=(\d+)", page)
    assert score and since, page
    assert '<dl class="facts" id="lead-facts">' in page  # in the page itself: no out-of-band swap
    path = f"/app/leads/{lead}/timeline?since={since.group(1)}"
    assert client.get(path).status_code == 204
    console.crm.log_lead_interaction(lead, LogInteraction(kind="demo", detail="second demo"), ALICE)
    changed = client.get(path)
    assert changed.status_code == 200
    facts = re.search(r'<dl class="facts" id="lead-facts" hx-swap-oob="true">(.*?)</dl>', changed.text, re.S)
    assert facts, changed.text
    new_score = re.search(r'<span class="score">(\d+)</span>', facts.group(1))
    assert new_score and int(new_score.group(1)) > int(score.group(1))
    console.crm.convert_lead(lead, ConvertLead(deal_value=100), ALICE)
    won = client.get(f"/app/leads/{lead}/timeline?since={int(since.group(1)) + 2}").text
    assert re.search(r'<dd class="status">won</dd>', won) and re.search(r'<dd class="stage">converted</dd>', won)
